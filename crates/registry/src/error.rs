//! The registry's error taxonomy. Each variant corresponds to one AWS IoT error type, so the
//! control plane can answer with the exception class the CLI and SDKs expect; the message is
//! what the caller reads and says what to fix.

/// A registry operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Input outside the API's constraints (a name, a field, a combination of flags).
    #[error("{0}")]
    InvalidRequest(String),
    /// The named resource does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A resource with that identity exists already.
    #[error("{message}")]
    AlreadyExists {
        message: String,
        resource_id: String,
        resource_arn: String,
    },
    /// The resource is still referenced (attachments, versions, members).
    #[error("{0}")]
    DeleteConflict(String),
    /// `expectedVersion` did not match.
    #[error("{0}")]
    VersionConflict(String),
    /// The certificate's status forbids the operation.
    #[error("{0}")]
    CertificateState(String),
    /// A certificate is malformed, expired, or not signed by the CA it claims.
    #[error("{0}")]
    CertificateValidation(String),
    /// Several registered CAs could have signed the certificate.
    #[error("{0}")]
    CertificateConflict(String),
    /// The verification certificate does not prove possession of the CA key.
    #[error("{0}")]
    RegistrationCodeValidation(String),
    /// A policy document is not a valid IoT policy.
    #[error("{0}")]
    MalformedPolicy(String),
    /// A policy already has the maximum number of versions.
    #[error("{0}")]
    VersionsLimitExceeded(String),
    /// A quota (attachments, CAs per subject, groups per thing…) would be exceeded.
    #[error("{0}")]
    LimitExceeded(String),
    /// A provisioning template's plan cannot be applied (RegisterThing, bulk registration):
    /// a thing type or group it names is missing, a certificate it names is unusable…
    #[error("{0}")]
    ResourceRegistrationFailure(String),
    /// A resource a provisioning template describes exists and its `OverrideSettings` say FAIL.
    #[error("{0}")]
    ConflictingResourceUpdate(String),
    /// A topic rule's SQL does not parse; the message gives the line and column.
    #[error("{0}")]
    SqlParse(String),
    /// AWS's answer for a topic rule or destination that does not exist ("Access to topic rule
    /// 'x' was denied"): it does not tell a missing rule from a forbidden one.
    #[error("{0}")]
    Unauthorized(String),
    /// The database failed; the message is for logs, not for callers.
    #[error("storage error: {0}")]
    Storage(#[from] StorageError),
}

/// What failed underneath a [`RegistryError::Storage`].
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The database refused or failed a statement, a connection or a transaction; kept whole so
    /// that logs can walk its causes.
    #[error("{0}")]
    Database(#[from] sqlx::Error),
    /// A failure with no single database error behind it: a stored value that does not read
    /// back, a commit that failed for a whole batch, the writer gone.
    #[error("{0}")]
    Other(String),
}

impl From<sqlx::Error> for RegistryError {
    fn from(error: sqlx::Error) -> Self {
        Self::Storage(StorageError::Database(error))
    }
}

impl RegistryError {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::InvalidRequest(message.into())
    }

    /// AWS's validation message for `value` at `field` failing `constraint`.
    pub(crate) fn constraint(
        field: &str,
        value: impl std::fmt::Display,
        constraint: roost_validation::Constraint<'_>,
    ) -> Self {
        Self::InvalidRequest(roost_validation::message(field, value, constraint))
    }

    /// A storage failure with no database error behind it (see [`StorageError::Other`]).
    pub fn storage(message: impl Into<String>) -> Self {
        Self::Storage(StorageError::Other(message.into()))
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::NotFound(message.into())
    }
}

impl From<roost_rules::RuleError> for RegistryError {
    fn from(error: roost_rules::RuleError) -> Self {
        match error {
            roost_rules::RuleError::SqlParse(message) => Self::SqlParse(message),
            roost_rules::RuleError::InvalidRequest(message) => Self::InvalidRequest(message),
        }
    }
}
