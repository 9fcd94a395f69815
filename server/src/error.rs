//! SQS errors as AWS reports them: a code, an HTTP status, a fault side and a message.
//!
//! Both wire protocols render the same [`SqsError`]: AWS JSON 1.0 as
//! `{"__type":"<namespace>#<JSON name>","message":…}` (see [`ErrorCode::json_type`]) plus the
//! `x-amzn-query-error: AWS.SimpleQueueService.<Code>;Sender` header where AWS sends it,
//! and Query/XML as an `ErrorResponse` document. The messages come from [`texts`].

use serde::{Deserialize, Serialize};

pub mod texts;

/// The JSON namespace of the errors AWS's service framework raises, not SQS itself.
const FRAMEWORK: &str = "com.amazon.coral.service";

/// Every error code sqsraft returns. The string form is the AWS code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorCode {
    // Authentication (SigV4).
    MissingAuthenticationToken,
    IncompleteSignature,
    InvalidClientTokenId,
    SignatureDoesNotMatch,
    RequestExpired,
    AccessDenied,
    // Request shape.
    InvalidAction,
    MissingParameter,
    InvalidParameterValue,
    InvalidParameterCombination,
    InvalidAttributeName,
    InvalidAttributeValue,
    MalformedQueryString,
    SerializationException,
    UnknownOperation,
    // Queues.
    QueueDoesNotExist,
    QueueNameExists,
    QueueDeletedRecently,
    PurgeQueueInProgress,
    OverLimit,
    // Messages and batches.
    InvalidMessageContents,
    ReceiptHandleIsInvalid,
    MessageNotInflight,
    EmptyBatchRequest,
    TooManyEntriesInBatchRequest,
    BatchEntryIdsNotDistinct,
    BatchRequestTooLong,
    InvalidBatchEntryId,
    UnsupportedOperation,
    ResourceNotFound,
    // Server side.
    InternalFailure,
    ServiceUnavailable,
    RequestThrottled,
}

impl ErrorCode {
    /// The AWS error code string.
    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            MissingAuthenticationToken => "MissingAuthenticationToken",
            IncompleteSignature => "IncompleteSignature",
            InvalidClientTokenId => "InvalidClientTokenId",
            SignatureDoesNotMatch => "SignatureDoesNotMatch",
            RequestExpired => "RequestExpired",
            AccessDenied => "AccessDenied",
            InvalidAction => "InvalidAction",
            MissingParameter => "MissingParameter",
            InvalidParameterValue => "InvalidParameterValue",
            InvalidParameterCombination => "InvalidParameterCombination",
            InvalidAttributeName => "InvalidAttributeName",
            InvalidAttributeValue => "InvalidAttributeValue",
            MalformedQueryString => "MalformedQueryString",
            SerializationException => "SerializationException",
            UnknownOperation => "UnknownOperationException",
            QueueDoesNotExist => "QueueDoesNotExist",
            QueueNameExists => "QueueNameExists",
            QueueDeletedRecently => "QueueDeletedRecently",
            PurgeQueueInProgress => "PurgeQueueInProgress",
            OverLimit => "OverLimit",
            InvalidMessageContents => "InvalidMessageContents",
            ReceiptHandleIsInvalid => "ReceiptHandleIsInvalid",
            MessageNotInflight => "MessageNotInflight",
            EmptyBatchRequest => "EmptyBatchRequest",
            TooManyEntriesInBatchRequest => "TooManyEntriesInBatchRequest",
            BatchEntryIdsNotDistinct => "BatchEntryIdsNotDistinct",
            BatchRequestTooLong => "BatchRequestTooLong",
            InvalidBatchEntryId => "InvalidBatchEntryId",
            UnsupportedOperation => "UnsupportedOperation",
            ResourceNotFound => "ResourceNotFoundException",
            InternalFailure => "InternalFailure",
            ServiceUnavailable => "ServiceUnavailable",
            RequestThrottled => "RequestThrottled",
        }
    }

    /// The `__type` AWS JSON 1.0 names this error with: `namespace#Name`.
    ///
    /// SQS's modeled errors (the service model's exception shapes) live in
    /// `com.amazonaws.sqs` under their shape name. The common errors come from AWS's
    /// service framework, and two of them carry a JSON name unlike their Query code:
    /// `InvalidParameterValueException` and `MissingRequiredParameterException`, as
    /// AWS answers over JSON (the `x-amzn-query-error` header keeps the Query code).
    pub fn json_type(self) -> String {
        use ErrorCode::*;
        let (namespace, name) = match self {
            InvalidParameterValue => (FRAMEWORK, "InvalidParameterValueException"),
            MissingParameter => (FRAMEWORK, "MissingRequiredParameterException"),
            AccessDenied => (FRAMEWORK, "AccessDeniedException"),
            SerializationException | UnknownOperation => (FRAMEWORK, self.as_str()),
            _ => ("com.amazonaws.sqs", self.as_str()),
        };
        format!("{namespace}#{name}")
    }

    /// HTTP status AWS uses for this code.
    pub fn status(self) -> u16 {
        use ErrorCode::*;
        match self {
            // IncompleteSignature and RequestExpired are 400, as SQS documents them.
            MissingAuthenticationToken
            | InvalidClientTokenId
            | SignatureDoesNotMatch
            | AccessDenied => 403,
            // AWS answers an unknown move-task source, destination or task with 404.
            ResourceNotFound => 404,
            InternalFailure => 500,
            ServiceUnavailable => 503,
            _ => 400,
        }
    }

    /// Whether the caller (`Sender`) or the service (`Receiver`) is at fault.
    pub fn sender_fault(self) -> bool {
        !matches!(
            self,
            ErrorCode::InternalFailure | ErrorCode::ServiceUnavailable
        )
    }

    /// The code the Query protocol's `x-amzn-query-error` header and XML `Code` use.
    ///
    /// AWS keeps legacy names there (e.g. `AWS.SimpleQueueService.NonExistentQueue`), and
    /// the SDKs map them back to modeled errors.
    pub fn query_code(self) -> &'static str {
        use ErrorCode::*;
        match self {
            QueueDoesNotExist => "AWS.SimpleQueueService.NonExistentQueue",
            QueueNameExists => "QueueAlreadyExists",
            QueueDeletedRecently => "AWS.SimpleQueueService.QueueDeletedRecently",
            PurgeQueueInProgress => "AWS.SimpleQueueService.PurgeQueueInProgress",
            MessageNotInflight => "AWS.SimpleQueueService.MessageNotInflight",
            EmptyBatchRequest => "AWS.SimpleQueueService.EmptyBatchRequest",
            TooManyEntriesInBatchRequest => "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
            BatchEntryIdsNotDistinct => "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
            BatchRequestTooLong => "AWS.SimpleQueueService.BatchRequestTooLong",
            InvalidBatchEntryId => "AWS.SimpleQueueService.InvalidBatchEntryId",
            UnsupportedOperation => "AWS.SimpleQueueService.UnsupportedOperation",
            other => other.as_str(),
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An SQS error returned to a client. Serializable so that the state machine can record
/// it in the request-dedup table and replay it verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SqsError {
    pub code: ErrorCode,
    pub message: String,
}

impl SqsError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        SqsError {
            code,
            message: message.into(),
        }
    }

    /// `InvalidParameterValue` with the given message.
    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidParameterValue, message)
    }

    /// `MissingParameter` for the named parameter.
    pub fn missing_parameter(name: &str) -> Self {
        Self::new(ErrorCode::MissingParameter, texts::missing_parameter(name))
    }

    /// `QueueDoesNotExist` with AWS's message.
    pub fn queue_does_not_exist() -> Self {
        Self::new(ErrorCode::QueueDoesNotExist, texts::QUEUE_DOES_NOT_EXIST)
    }

    /// `InternalFailure` carrying context for the log; clients only see the message.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InternalFailure, message)
    }

    /// `ServiceUnavailable`: e.g. no leader within the request deadline.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ServiceUnavailable, message)
    }

    pub fn status(&self) -> u16 {
        self.code.status()
    }
}

impl std::fmt::Display for SqsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for SqsError {}

/// Result of an SQS operation.
pub type SqsResult<T> = Result<T, SqsError>;
