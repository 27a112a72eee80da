//! Which categories a person holds on a day, and which one applies.

use doudi_core::{Category, Date};

/// A period during which a person holds a category; `to` is inclusive, `None` while open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CategoryPeriod {
    pub category: Category,
    pub from: Date,
    pub to: Option<Date>,
}

impl CategoryPeriod {
    pub fn contains(&self, day: Date) -> bool {
        self.from <= day && self.to.is_none_or(|to| day <= to)
    }

    pub fn overlaps(&self, other: &CategoryPeriod) -> bool {
        let ends_before = |a: &CategoryPeriod, b: &CategoryPeriod| a.to.is_some_and(|to| to < b.from);
        !ends_before(self, other) && !ends_before(other, self)
    }
}

/// A person's coverage on one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coverage {
    /// The category that applies: the first held in priority order, NONE if none.
    pub category: Category,
    /// Every period in force on the day, in priority order.
    pub held: Vec<CategoryPeriod>,
}

/// Coverage on `day` from all of a person's periods (any order, any days).
pub fn coverage_on(periods: impl IntoIterator<Item = CategoryPeriod>, day: Date) -> Coverage {
    let mut held: Vec<CategoryPeriod> = periods.into_iter().filter(|p| p.contains(day)).collect();
    held.sort_by_key(|p| (p.category, p.from));
    let category = Category::applying(held.iter().map(|p| p.category));
    Coverage { category, held }
}

/// The category that decides a person's premium subsidy for `year` (policy.md, "Premium
/// subsidy"): the one that applies on 1 January, or, for a person without one then, the one
/// that applies on the first later day of that year on which they hold any. `None` when they
/// hold none in the year.
pub fn premium_subsidy_category(periods: &[CategoryPeriod], year: i32) -> Option<Category> {
    let (first_day, last_day) = (Date::from_ymd(year, 1, 1).ok()?, Date::from_ymd(year, 12, 31).ok()?);
    let on_first_day = coverage_on(periods.iter().copied(), first_day).category;
    if on_first_day != Category::None {
        return Some(on_first_day);
    }
    let first_held = periods.iter().map(|p| p.from).filter(|from| *from > first_day && *from <= last_day).min()?;
    Some(coverage_on(periods.iter().copied(), first_held).category)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn day(s: &str) -> Date {
        s.parse().unwrap()
    }

    fn period(category: Category, from: &str, to: Option<&str>) -> CategoryPeriod {
        CategoryPeriod { category, from: day(from), to: to.map(day) }
    }

    #[test]
    fn as_of_any_day() {
        let periods = [
            period(Category::LowIncome, "2014-01-01", None),
            period(Category::Dibao2, "2015-03-01", Some("2015-12-31")),
            period(Category::Dibao1, "2016-01-01", None),
        ];
        assert_eq!(coverage_on(periods, day("2013-12-31")).category, Category::None);
        assert_eq!(coverage_on(periods, day("2014-06-01")).category, Category::LowIncome);
        let mid = coverage_on(periods, day("2015-12-31"));
        assert_eq!(mid.category, Category::Dibao2);
        assert_eq!(mid.held.iter().map(|p| p.category).collect::<Vec<_>>(), [Category::Dibao2, Category::LowIncome]);
        assert_eq!(coverage_on(periods, day("2016-01-01")).category, Category::Dibao1);
    }

    #[test]
    fn premium_subsidy_category_is_the_first_of_january_or_the_first_held_later() {
        let held_all_year =
            [period(Category::Dibao2, "2015-01-01", None), period(Category::LowIncome, "2016-01-01", None)];
        assert_eq!(premium_subsidy_category(&held_all_year, 2016), Some(Category::Dibao2));
        let later = [
            period(Category::Dibao1, "2016-06-01", None),
            period(Category::LowIncome, "2016-03-01", Some("2016-05-31")),
            period(Category::Tekun, "2015-01-01", Some("2015-12-31")),
        ];
        assert_eq!(premium_subsidy_category(&later, 2016), Some(Category::LowIncome));
        assert_eq!(premium_subsidy_category(&later, 2015), Some(Category::Tekun));
        assert_eq!(premium_subsidy_category(&later, 2014), None);
        let ended = [period(Category::Dibao2, "2015-01-01", Some("2015-12-31"))];
        assert_eq!(premium_subsidy_category(&ended, 2016), None);
    }

    proptest! {
        #[test]
        fn applying_category_is_the_best_held(
            spans in proptest::collection::vec((0usize..6, 0i64..400, proptest::option::of(0i64..200)), 0..8),
            probe in 0i64..600
        ) {
            let base = day("2015-01-01");
            let periods: Vec<_> = spans.iter().map(|(c, start, len)| CategoryPeriod {
                category: Category::ALL[*c],
                from: base.add_days(*start),
                to: len.map(|l| base.add_days(start + l)),
            }).collect();
            let probe = base.add_days(probe);
            let coverage = coverage_on(periods.clone(), probe);
            let expected = periods.iter().filter(|p| p.contains(probe)).map(|p| p.category).min().unwrap_or(Category::None);
            prop_assert_eq!(coverage.category, expected);
            prop_assert!(coverage.held.iter().all(|p| p.contains(probe)));
        }
    }
}
