//! How a database failure becomes an answer: busy, unavailable, a
//! concurrent change, or an internal error; and [`Db::run`] / [`Db::read`],
//! the database calls of the HTTP handlers, whose closures return
//! [`ApiError`].

use actix_web::http::StatusCode;

use super::{ApiError, BUSY};
use crate::db::{Db, DbConnection, DbError, TaskError};

impl Db {
    /// [`Db::run_as`] for the HTTP handlers.
    pub async fn run<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        self.run_as(f).await
    }

    /// [`Db::read_as`] for the HTTP handlers.
    pub async fn read<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        self.read_as(f).await
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        if e.is_storage_failure() {
            Self::storage_unavailable(e)
        } else if e.is_busy() {
            Self::busy(e)
        } else if e.is_concurrent_change() {
            tracing::warn!(error = %e, "a change gave way to a concurrent one");
            Self::concurrent_change(e)
        } else if e.is_unavailable() {
            Self::unavailable(e)
        } else {
            Self::internal(e)
        }
    }
}

impl TaskError for ApiError {
    fn connection_suspect(&self) -> bool {
        self.status == StatusCode::SERVICE_UNAVAILABLE && self.code != BUSY
    }

    fn is_server_fault(&self) -> bool {
        self.status.is_server_error()
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        if let diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        ) = &e
        {
            // A race with a concurrent write: the caller may try again.
            let mut err = Self::conflict(
                "unique_violation",
                "A concurrent change got there first; try again.",
            );
            err.cause = Some(e.into());
            return err;
        }
        DbError::from(e).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database_error(kind: diesel::result::DatabaseErrorKind, message: &str) -> ApiError {
        diesel::result::Error::DatabaseError(kind, Box::new(message.to_owned())).into()
    }

    #[test]
    fn a_change_given_up_against_another_is_a_conflict_or_busy() {
        use diesel::result::DatabaseErrorKind as Kind;
        let deadlock = database_error(Kind::Unknown, "deadlock detected");
        assert_eq!(
            (deadlock.status.as_u16(), &*deadlock.code),
            (409, "concurrent_change")
        );
        let serialization = database_error(
            Kind::SerializationFailure,
            "could not serialize access due to concurrent update",
        );
        assert_eq!(serialization.code, "concurrent_change");
        let busy = database_error(Kind::Unknown, "database is locked");
        assert_eq!((busy.status.as_u16(), &*busy.code), (503, BUSY));
        assert!(busy
            .headers
            .iter()
            .any(|(name, value)| name == "retry-after" && value == "1"));
        let other = database_error(Kind::Unknown, "syntax error");
        assert_eq!(other.status.as_u16(), 500);
    }
}
