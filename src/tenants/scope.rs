//! Which tenants a staff member's reading covers: every tenant (an admin),
//! or a set of them (the tenants a DPO serves, or the one it narrowed to).

/// The tenants a list, a count or an export covers, by database id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every tenant, and the records of no tenant.
    Every,
    /// These tenants only (none: nothing).
    Only(Vec<String>),
}

impl Scope {
    /// The tenant ids to filter on; `None` for every tenant.
    pub fn ids(&self) -> Option<&[String]> {
        match self {
            Self::Every => None,
            Self::Only(ids) => Some(ids),
        }
    }

    /// The same, owned, for a query that outlives the scope.
    pub fn to_ids(&self) -> Option<Vec<String>> {
        self.ids().map(<[String]>::to_vec)
    }

    /// Whether a record of `tenant_id` is in scope.
    pub fn covers(&self, tenant_id: &str) -> bool {
        self.ids()
            .is_none_or(|ids| ids.iter().any(|t| t == tenant_id))
    }

    /// The one tenant covered, when it is exactly one.
    pub fn single(&self) -> Option<&str> {
        match self.ids() {
            Some([one]) => Some(one),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_covers_all_and_only_its_own() {
        assert!(Scope::Every.covers("x"));
        assert_eq!(Scope::Every.single(), None);
        let ab = Scope::Only(vec!["a".into(), "b".into()]);
        assert!(ab.covers("a") && ab.covers("b") && !ab.covers("c"));
        assert_eq!(ab.single(), None);
        assert_eq!(Scope::Only(vec!["a".into()]).single(), Some("a"));
        assert!(!Scope::Only(vec![]).covers("a"));
    }
}
