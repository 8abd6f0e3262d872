//! Lists: `{items, total, page, per_page}`, `per_page` at most
//! `limits.max_page_size` (≤ 100), `page` at most `limits.max_page`.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::config::LimitSettings;
use crate::error::FieldError;

#[derive(Debug, Clone, Copy, Deserialize, IntoParams)]
pub struct PageQuery {
    /// Page number, from 1.
    #[param(minimum = 1, maximum = 1_000_000, default = 1)]
    pub page: Option<u32>,
    /// Items per page, 1 to 100.
    #[param(minimum = 1, maximum = 100, default = 50)]
    pub per_page: Option<u32>,
}

/// `per_page` when the query gives none (or `limits.max_page_size`, if lower).
pub const DEFAULT_PAGE_SIZE: u32 = 50;

impl PageQuery {
    /// `(page, per_page, offset)` after checking the bounds; else the field
    /// out of them (a 422 at the HTTP edge).
    pub fn resolve(&self, limits: &LimitSettings) -> Result<(u32, u32, i64), FieldError> {
        let max = limits.max_page_size;
        let page = self.page.unwrap_or(1);
        let per_page = self.per_page.unwrap_or(DEFAULT_PAGE_SIZE.min(max));
        if page == 0 || page > limits.max_page {
            return Err(FieldError {
                field: "page".into(),
                message: format!("must be between 1 and {}", limits.max_page),
            });
        }
        if per_page == 0 || per_page > max {
            return Err(FieldError {
                field: "per_page".into(),
                message: format!("must be between 1 and {max}"),
            });
        }
        Ok((page, per_page, i64::from(page - 1) * i64::from(per_page)))
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ListResponse<T> {
    pub items: Vec<T>,
    pub total: i64,
    pub page: u32,
    pub per_page: u32,
}
