//! Pagination. A page token is the hex of the last key returned (hex fits both the model's
//! `Marker` pattern and free-form `nextToken`s); lists are ordered by that key, so a token stays
//! valid while other rows are added or removed.

use crate::error::RegistryError;
use roost_validation::Constraint;

/// Default page size of `marker`/`pageSize` lists (certificates, policies…), as on AWS.
pub const DEFAULT_PAGE_SIZE: u32 = 25;
/// Default page size of `nextToken`/`maxResults` lists (things, groups…).
pub const DEFAULT_MAX_RESULTS: u32 = 50;
/// Largest page the model allows.
pub const MAX_PAGE_SIZE: u32 = 250;

/// Which page of a list to return.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    /// Continue after this key (decoded from the caller's token).
    pub after: Option<String>,
    /// Page size, already bounded.
    pub limit: u32,
    /// Sort order; lists are ascending unless the operation says otherwise.
    pub ascending: bool,
}

impl PageRequest {
    /// Builds a request from the API's token and size members; `size_field` names the size
    /// member (`pageSize` or `maxResults`) for errors.
    pub fn from_api(
        token: Option<&str>,
        size: Option<i64>,
        size_field: &str,
        default_size: u32,
        ascending: bool,
    ) -> Result<Self, RegistryError> {
        let limit = match size {
            None => default_size,
            Some(n) if (1..=i64::from(MAX_PAGE_SIZE)).contains(&n) => n as u32,
            Some(n) => {
                return Err(RegistryError::constraint(
                    size_field,
                    n,
                    Constraint::ValueBetween(1, i64::from(MAX_PAGE_SIZE)),
                ));
            }
        };
        // The model pairs `marker` with `pageSize` and `nextToken` with `maxResults`.
        let token_field = if size_field == "pageSize" {
            "marker"
        } else {
            "nextToken"
        };
        let after = match token {
            None | Some("") => None,
            Some(token) => Some(decode_token(token_field, token)?),
        };
        Ok(Self {
            after,
            limit,
            ascending,
        })
    }

    /// The first page of `limit` items, ascending.
    pub fn first(limit: u32) -> Self {
        Self {
            after: None,
            limit,
            ascending: true,
        }
    }
}

/// One page of a list and the token for the next, if there is more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

impl<T> Page<T> {
    /// Cuts `rows` (fetched with `limit + 1`) to a page; `key` gives each row's sort key.
    pub(crate) fn from_rows(mut rows: Vec<T>, limit: u32, key: impl Fn(&T) -> String) -> Self {
        let next = if rows.len() > limit as usize {
            rows.truncate(limit as usize);
            rows.last().map(|last| hex::encode(key(last)))
        } else {
            None
        };
        Self { items: rows, next }
    }
}

fn decode_token(field: &str, token: &str) -> Result<String, RegistryError> {
    // Keys never hold control characters; a token that decodes to one was not issued here
    // (and a NUL would not even reach PostgreSQL as text).
    hex::decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .filter(|key| !key.chars().any(char::is_control))
        .ok_or_else(|| {
            RegistryError::InvalidRequest(format!(
                "{field}: the pagination token '{token}' is not one this server issued"
            ))
        })
}

/// A composite sort key for lists ordered by creation time, then id: fixed-width so that
/// string order is time order.
pub(crate) fn created_key(created_ms: i64, id: &str) -> String {
    format!("{created_ms:016}:{id}")
}

/// Splits a [`created_key`] back into its parts.
pub(crate) fn parse_created_key(key: &str) -> Result<(i64, String), RegistryError> {
    key.split_once(':')
        .and_then(|(ms, id)| Some((ms.parse().ok()?, id.to_owned())))
        .ok_or_else(|| {
            RegistryError::InvalidRequest(
                "marker: the pagination marker is not one this list issued".into(),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_page_yields_a_token_that_decodes_to_the_last_key() {
        let page = Page::from_rows(vec!["a", "b", "c"], 2, |s| s.to_string());
        assert_eq!(page.items, vec!["a", "b"]);
        let token = page.next.unwrap();
        let next = PageRequest::from_api(Some(&token), None, "maxResults", 50, true).unwrap();
        assert_eq!(next.after.as_deref(), Some("b"));
    }

    #[test]
    fn the_last_page_has_no_token() {
        let page = Page::from_rows(vec!["a"], 2, |s| s.to_string());
        assert_eq!(page.next, None);
    }

    #[test]
    fn page_sizes_outside_the_model_are_refused() {
        assert!(PageRequest::from_api(None, Some(0), "pageSize", 25, true).is_err());
        assert!(PageRequest::from_api(None, Some(251), "pageSize", 25, true).is_err());
        assert_eq!(
            PageRequest::from_api(None, Some(250), "pageSize", 25, true)
                .unwrap()
                .limit,
            250
        );
    }

    #[test]
    fn foreign_tokens_are_refused_naming_the_token_member() {
        let err = PageRequest::from_api(Some("zz"), None, "pageSize", 25, true).unwrap_err();
        assert!(err.to_string().starts_with("marker:"), "{err}");
        let err = PageRequest::from_api(Some("zz"), None, "maxResults", 50, true).unwrap_err();
        assert!(err.to_string().starts_with("nextToken:"), "{err}");
    }

    #[test]
    fn created_keys_sort_by_time() {
        assert!(created_key(999, "b") < created_key(1000, "a"));
        assert_eq!(
            parse_created_key(&created_key(5, "x")).unwrap(),
            (5, "x".into())
        );
    }
}
