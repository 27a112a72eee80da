//! The eligibility service: the store, the coverage index of a serving process, and the
//! service's calendar. Its operations live with their capability (`registry/ops.rs`,
//! `procedure/ops.rs`, …), each an `impl EligibilityService` block.

use crate::clock::Clock;
use crate::coverage::index::CoverageIndex;
use crate::error::Result;
use crate::store::Store;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct EligibilityService {
    store: Store,
    /// Servers answer coverage from memory; a one-shot command asks the database.
    index: Option<Arc<CoverageIndex>>,
    clock: Clock,
}

impl EligibilityService {
    pub fn new(store: Store) -> Self {
        Self { store, index: None, clock: Clock::default() }
    }

    /// Keeps every person's coverage in memory, exactly up to date (see `coverage::index`).
    /// Loads it now; returns the number of persons.
    pub async fn with_coverage_index(mut self) -> Result<(Self, usize)> {
        let index = Arc::new(CoverageIndex::new());
        let persons = index.load(&self.store).await?;
        self.index = Some(index);
        Ok((self, persons))
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub(crate) fn coverage_index(&self) -> Option<&Arc<CoverageIndex>> {
        self.index.as_ref()
    }

    /// The service's calendar (the real date unless set).
    pub fn clock(&self) -> &Clock {
        &self.clock
    }
}
