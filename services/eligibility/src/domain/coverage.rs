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
