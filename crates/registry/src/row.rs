//! Reading columns out of rows, with storage errors instead of panics.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::error::RegistryError;
use crate::model::Attributes;

pub(crate) fn text(row: &AnyRow, column: &str) -> Result<String, RegistryError> {
    row.try_get::<String, _>(column)
        .map_err(|e| RegistryError::storage(format!("column {column}: {e}")))
}

pub(crate) fn opt_text(row: &AnyRow, column: &str) -> Result<Option<String>, RegistryError> {
    row.try_get::<Option<String>, _>(column)
        .map_err(|e| RegistryError::storage(format!("column {column}: {e}")))
}

pub(crate) fn int(row: &AnyRow, column: &str) -> Result<i64, RegistryError> {
    row.try_get::<i64, _>(column)
        .map_err(|e| RegistryError::storage(format!("column {column}: {e}")))
}

pub(crate) fn opt_int(row: &AnyRow, column: &str) -> Result<Option<i64>, RegistryError> {
    row.try_get::<Option<i64>, _>(column)
        .map_err(|e| RegistryError::storage(format!("column {column}: {e}")))
}

pub(crate) fn attributes(row: &AnyRow, column: &str) -> Result<Attributes, RegistryError> {
    let json = text(row, column)?;
    serde_json::from_str(&json)
        .map_err(|e| RegistryError::storage(format!("column {column} is not a JSON map: {e}")))
}

pub(crate) fn attributes_json(attributes: &Attributes) -> String {
    serde_json::to_string(attributes).unwrap_or_else(|_| "{}".to_owned())
}
