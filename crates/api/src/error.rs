//! The one error type of the control plane, encoded as botocore reads it: the
//! `x-amzn-ErrorType` header names the exception class, the JSON body carries `message` (and
//! `resourceId`/`resourceArn` where AWS sends them), the status is the model's.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use roost_registry::RegistryError;
use roost_validation::Constraint;
use serde_json::json;

/// An AWS IoT error type, with the HTTP status the botocore model gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    InvalidRequest,
    ResourceNotFound,
    ResourceAlreadyExists,
    DeleteConflict,
    VersionConflict,
    CertificateState,
    CertificateValidation,
    CertificateConflict,
    RegistrationCodeValidation,
    MalformedPolicy,
    VersionsLimitExceeded,
    LimitExceeded,
    ResourceRegistrationFailure,
    ConflictingResourceUpdate,
    /// A topic rule's SQL does not parse.
    SqlParse,
    Unauthorized,
    InternalFailure,
    ServiceUnavailable,
    /// SigV4 failures (403): the type comes from the verifier.
    Authentication(&'static str),
    /// No route for the method and path.
    UnknownOperation,
    /// A known path with a method it does not take.
    MethodNotAllowed,
    /// The request did not arrive in time.
    RequestTimeout,
    /// An iot-data error whose type and status come from the data-plane service (a shadow
    /// error: 409 ConflictException, 413 RequestEntityTooLargeException…).
    DataPlane {
        aws_type: &'static str,
        status: u16,
    },
}

impl ErrorKind {
    /// The exception shape name botocore maps to a class.
    pub fn aws_type(self) -> &'static str {
        match self {
            Self::InvalidRequest => "InvalidRequestException",
            Self::ResourceNotFound => "ResourceNotFoundException",
            Self::ResourceAlreadyExists => "ResourceAlreadyExistsException",
            Self::DeleteConflict => "DeleteConflictException",
            Self::VersionConflict => "VersionConflictException",
            Self::CertificateState => "CertificateStateException",
            Self::CertificateValidation => "CertificateValidationException",
            Self::CertificateConflict => "CertificateConflictException",
            Self::RegistrationCodeValidation => "RegistrationCodeValidationException",
            Self::MalformedPolicy => "MalformedPolicyException",
            Self::VersionsLimitExceeded => "VersionsLimitExceededException",
            Self::LimitExceeded => "LimitExceededException",
            Self::ResourceRegistrationFailure => "ResourceRegistrationFailureException",
            Self::ConflictingResourceUpdate => "ConflictingResourceUpdateException",
            Self::SqlParse => "SqlParseException",
            Self::Unauthorized => "UnauthorizedException",
            Self::InternalFailure => "InternalFailureException",
            Self::ServiceUnavailable => "ServiceUnavailableException",
            Self::Authentication(aws_type) => aws_type,
            Self::UnknownOperation => "UnknownOperationException",
            Self::MethodNotAllowed => "MethodNotAllowedException",
            Self::RequestTimeout => "RequestTimeoutException",
            Self::DataPlane { aws_type, .. } => aws_type,
        }
    }

    /// The status code of the model (note the odd ones: 406, 410).
    pub fn status(self) -> StatusCode {
        match self {
            Self::InvalidRequest
            | Self::CertificateValidation
            | Self::RegistrationCodeValidation
            | Self::MalformedPolicy
            | Self::ResourceRegistrationFailure
            | Self::SqlParse => StatusCode::BAD_REQUEST,
            Self::ResourceNotFound | Self::UnknownOperation => StatusCode::NOT_FOUND,
            Self::ResourceAlreadyExists
            | Self::DeleteConflict
            | Self::VersionConflict
            | Self::CertificateConflict
            | Self::VersionsLimitExceeded
            | Self::ConflictingResourceUpdate => StatusCode::CONFLICT,
            Self::CertificateState => StatusCode::NOT_ACCEPTABLE,
            Self::LimitExceeded => StatusCode::GONE,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::InternalFailure => StatusCode::INTERNAL_SERVER_ERROR,
            Self::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Authentication(_) => StatusCode::FORBIDDEN,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::DataPlane { status, .. } => {
                StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST)
            }
        }
    }
}

/// A failed control-plane request.
#[derive(Debug, thiserror::Error)]
#[error("{kind:?}: {message}")]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
    pub resource_id: Option<String>,
    pub resource_arn: Option<String>,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            resource_id: None,
            resource_arn: None,
        }
    }

    /// InvalidRequestException with `message`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidRequest, message)
    }

    /// InvalidRequestException with AWS's validation message for `value` at `field`.
    pub fn constraint(field: &str, value: impl std::fmt::Display, constraint: Constraint) -> Self {
        Self::invalid(roost_validation::message(field, value, constraint))
    }

    /// InvalidRequestException with AWS's validation message for `field`, the value left out.
    pub fn constraint_without_value(field: &str, constraint: Constraint) -> Self {
        Self::invalid(roost_validation::message_without_value(field, constraint))
    }

    /// An internal failure: logged with its cause, answered generically.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "internal failure in the control plane");
        Self::new(
            ErrorKind::InternalFailure,
            "An internal error occurred; the server log has the details.",
        )
    }
}

impl From<roost_provisioning::ProvisioningError> for ApiError {
    fn from(error: roost_provisioning::ProvisioningError) -> Self {
        use roost_provisioning::ProvisioningError as E;
        match error {
            E::Registry(error) => error.into(),
            E::NoIssuer => ApiError::new(ErrorKind::ServiceUnavailable, error.to_string()),
            _ if error.is_internal() => ApiError::internal(error),
            // The request's template, parameters or CSR, or the CA's configuration.
            _ => ApiError::invalid(error.to_string()),
        }
    }
}

impl From<RegistryError> for ApiError {
    fn from(error: RegistryError) -> Self {
        let kind = match &error {
            RegistryError::InvalidRequest(_) => ErrorKind::InvalidRequest,
            RegistryError::NotFound(_) => ErrorKind::ResourceNotFound,
            RegistryError::AlreadyExists { .. } => ErrorKind::ResourceAlreadyExists,
            RegistryError::DeleteConflict(_) => ErrorKind::DeleteConflict,
            RegistryError::VersionConflict(_) => ErrorKind::VersionConflict,
            RegistryError::CertificateState(_) => ErrorKind::CertificateState,
            RegistryError::CertificateValidation(_) => ErrorKind::CertificateValidation,
            RegistryError::CertificateConflict(_) => ErrorKind::CertificateConflict,
            RegistryError::RegistrationCodeValidation(_) => ErrorKind::RegistrationCodeValidation,
            RegistryError::MalformedPolicy(_) => ErrorKind::MalformedPolicy,
            RegistryError::VersionsLimitExceeded(_) => ErrorKind::VersionsLimitExceeded,
            RegistryError::LimitExceeded(_) => ErrorKind::LimitExceeded,
            RegistryError::ResourceRegistrationFailure(_) => ErrorKind::ResourceRegistrationFailure,
            RegistryError::ConflictingResourceUpdate(_) => ErrorKind::ConflictingResourceUpdate,
            RegistryError::SqlParse(_) => ErrorKind::SqlParse,
            RegistryError::Unauthorized(_) => ErrorKind::Unauthorized,
            RegistryError::Storage(_) => return ApiError::internal(error),
        };
        let (resource_id, resource_arn) = match &error {
            RegistryError::AlreadyExists {
                resource_id,
                resource_arn,
                ..
            } => (Some(resource_id.clone()), Some(resource_arn.clone())),
            _ => (None, None),
        };
        Self {
            kind,
            message: error.to_string(),
            resource_id,
            resource_arn,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let aws_type = self.kind.aws_type();
        let mut body = json!({ "message": self.message, "__type": aws_type });
        if let Some(id) = self.resource_id {
            body["resourceId"] = id.into();
        }
        if let Some(arn) = self.resource_arn {
            body["resourceArn"] = arn.into();
        }
        let mut response = (self.kind.status(), axum::Json(body)).into_response();
        if let Ok(value) = HeaderValue::from_str(&format!("{aws_type}:")) {
            response.headers_mut().insert("x-amzn-ErrorType", value);
        }
        response
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

impl From<roost_shadow::ShadowError> for ApiError {
    fn from(error: roost_shadow::ShadowError) -> Self {
        let (status, aws_type) = error.http();
        Self::new(ErrorKind::DataPlane { aws_type, status }, error.to_string())
    }
}
