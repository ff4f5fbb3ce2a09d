//! The one error of rule validation, in the two classes AWS answers with.

/// Why a rule is refused at create or replace time. The message says what to fix and names
/// the member at fault (`actions[1].http.url`); the API sends it verbatim.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// The SQL statement does not parse (`SqlParseException`); the message starts with the
    /// line and column of the problem.
    #[error("{0}")]
    SqlParse(String),
    /// Anything else about the payload or the name (`InvalidRequestException`).
    #[error("{0}")]
    InvalidRequest(String),
}

impl RuleError {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::InvalidRequest(message.into())
    }
}
