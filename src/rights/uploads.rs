//! The memory budget of uploads: a form with documents is read whole into
//! memory, then sealed and stored, so the bytes of all the forms in flight
//! together are capped (`requests.upload_memory_bytes`). A form reserves
//! its declared length (or the largest form, without one) before its body
//! is read, and holds it until it is stored or refused; when the budget is
//! spent, it is refused at once (`RightsError::UploadsBusy`, answered 503
//! `uploads_busy` with `Retry-After`).

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::error::RightsError;

#[derive(Clone)]
pub struct UploadBudget {
    bytes: Arc<Semaphore>,
    total: u32,
}

/// Bytes of the budget held by one form; given back when dropped.
pub struct Reservation {
    _permit: OwnedSemaphorePermit,
}

impl UploadBudget {
    /// A budget of `bytes` (validated below 4 GiB).
    pub fn new(bytes: usize) -> Self {
        let total = u32::try_from(bytes).unwrap_or(u32::MAX);
        Self {
            bytes: Arc::new(Semaphore::new(total as usize)),
            total,
        }
    }

    /// Bytes reserved by the forms in flight.
    pub fn in_use(&self) -> usize {
        self.total as usize - self.bytes.available_permits()
    }

    /// Reserves `bytes`, or the whole budget for a form larger than it
    /// (which then needs the budget to itself).
    pub fn reserve(&self, bytes: usize) -> Result<Reservation, RightsError> {
        let wanted = u32::try_from(bytes).unwrap_or(u32::MAX).min(self.total);
        match self.bytes.clone().try_acquire_many_owned(wanted) {
            Ok(permit) => Ok(Reservation { _permit: permit }),
            Err(_) => {
                tracing::warn!(
                    wanted,
                    available = self.bytes.available_permits(),
                    "upload refused: the upload memory budget is in use"
                );
                Err(RightsError::UploadsBusy)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_are_given_back_when_dropped() {
        let budget = UploadBudget::new(100);
        let a = budget.reserve(60).unwrap();
        let e = budget.reserve(60).err().unwrap();
        assert!(matches!(e, RightsError::UploadsBusy));
        let b = budget.reserve(40).unwrap();
        drop(a);
        // Larger than the whole budget: takes all of it, alone.
        assert!(budget.reserve(1000).is_err());
        drop(b);
        let all = budget.reserve(1000).unwrap();
        assert!(budget.reserve(1).is_err());
        drop(all);
        budget.reserve(100).unwrap();
    }
}
