//! The MQTT 5 properties of an iot-data message (Publish, SendDirectMessage), read where
//! botocore's model puts them: `contentType`, `responseTopic` and `messageExpiry` in the query
//! string, user properties, payload format and correlation data in `x-amz-mqtt5-*` headers.
//! Each malformed member is InvalidRequestException naming it; what MQTT itself demands of the
//! values (a response topic without wildcards…) the broker checks.

use axum::http::HeaderMap;
use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use roost_validation::Constraint;

use crate::error::{ApiError, ApiResult};
use crate::input::{QueryParams, optional_header};
use crate::{MessageProperties, PayloadFormat};

/// Header of the user properties: base64 of a JSON array of one-member objects.
pub(crate) const USER_PROPERTIES: &str = "x-amz-mqtt5-user-properties";
/// Header of the payload format: `UNSPECIFIED_BYTES` or `UTF8_DATA`.
pub(crate) const PAYLOAD_FORMAT: &str = "x-amz-mqtt5-payload-format-indicator";
/// Header of the correlation data, base64 as the caller wrote it.
pub(crate) const CORRELATION_DATA: &str = "x-amz-mqtt5-correlation-data";

/// Standard base64, with or without its `=` padding (callers encode correlation data
/// themselves).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The properties Publish and SendDirectMessage share (all but `messageExpiry`), the payload
/// format checked against `payload`.
pub(crate) fn message_properties(
    query: &QueryParams,
    headers: &HeaderMap,
    payload: &[u8],
) -> ApiResult<MessageProperties> {
    let user_properties = optional_header(headers, USER_PROPERTIES)?
        .map(user_properties)
        .transpose()?
        .unwrap_or_default();
    let payload_format = optional_header(headers, PAYLOAD_FORMAT)?
        .map(|value| payload_format(value, payload))
        .transpose()?;
    let correlation_data = optional_header(headers, CORRELATION_DATA)?
        .map(correlation_data)
        .transpose()?;
    Ok(MessageProperties {
        content_type: query.text("contentType").map(str::to_owned),
        response_topic: query.text("responseTopic").map(str::to_owned),
        message_expiry_secs: None,
        user_properties,
        payload_format,
        correlation_data,
    })
}

/// Publish's `messageExpiry`, in seconds. AWS IoT raises 0 to 1 (a message that expired on
/// arrival would reach nobody); MQTT's four-byte interval bounds it above.
pub(crate) fn message_expiry(query: &QueryParams) -> ApiResult<Option<u32>> {
    let Some(secs) = query.integer("messageExpiry")? else {
        return Ok(None);
    };
    if secs < 0 {
        return Err(ApiError::constraint(
            "messageExpiry",
            secs,
            Constraint::ValueAtLeast(0),
        ));
    }
    let secs = u32::try_from(secs).map_err(|_| {
        ApiError::constraint(
            "messageExpiry",
            secs,
            Constraint::ValueAtMost(u32::MAX.into()),
        )
    })?;
    Ok(Some(secs.max(1)))
}

/// `x-amz-mqtt5-user-properties`: base64 of a JSON array of objects of one string member each,
/// `[{"deviceName": "alpha"}, {"deviceCnt": "45"}]`, in order.
fn user_properties(header: &str) -> ApiResult<Vec<(String, String)>> {
    let json = BASE64.decode(header).map_err(|e| {
        ApiError::invalid(format!(
            "The header '{USER_PROPERTIES}' is not valid base64: {e}"
        ))
    })?;
    let items: Vec<serde_json::Value> = serde_json::from_slice(&json).map_err(|e| {
        ApiError::invalid(format!(
            "The header '{USER_PROPERTIES}' is not the base64 of a JSON array: {e}"
        ))
    })?;
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            let pair = match item {
                serde_json::Value::Object(object) if object.len() == 1 => object.into_iter().next(),
                _ => None,
            };
            match pair {
                Some((key, serde_json::Value::String(value))) => Ok((key, value)),
                _ => Err(ApiError::invalid(format!(
                    "The user property at index {index} of the header '{USER_PROPERTIES}' is not \
                     an object with one string member, such as {{\"deviceName\": \"alpha\"}}"
                ))),
            }
        })
        .collect()
}

/// `x-amz-mqtt5-payload-format-indicator`; `UTF8_DATA` only for a payload that is UTF-8.
fn payload_format(value: &str, payload: &[u8]) -> ApiResult<PayloadFormat> {
    match value {
        "UNSPECIFIED_BYTES" => Ok(PayloadFormat::UnspecifiedBytes),
        "UTF8_DATA" => match std::str::from_utf8(payload) {
            Ok(_) => Ok(PayloadFormat::Utf8Data),
            Err(e) => Err(ApiError::invalid(format!(
                "The payload is not valid UTF-8 (at byte {}), but the header '{PAYLOAD_FORMAT}' \
                 says UTF8_DATA",
                e.valid_up_to()
            ))),
        },
        other => Err(ApiError::constraint(
            "payloadFormatIndicator",
            other,
            Constraint::OneOf(&["UNSPECIFIED_BYTES", "UTF8_DATA"]),
        )),
    }
}

/// `x-amz-mqtt5-correlation-data`: the caller's base64 of the bytes.
fn correlation_data(header: &str) -> ApiResult<Vec<u8>> {
    BASE64.decode(header).map_err(|e| {
        ApiError::invalid(format!(
            "The header '{CORRELATION_DATA}' is not valid base64: {e}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::STANDARD;

    use super::*;

    fn encoded(json: &str) -> String {
        STANDARD.encode(json)
    }

    fn message(result: ApiResult<impl std::fmt::Debug>) -> String {
        result.expect_err("a refusal").message
    }

    #[test]
    fn user_properties_keep_the_callers_order_and_repeated_keys() {
        let parsed = user_properties(&encoded(
            r#"[{"deviceName": "alpha"}, {"b": "1"}, {"b": "2"}]"#,
        ))
        .unwrap();
        assert_eq!(
            parsed,
            [("deviceName", "alpha"), ("b", "1"), ("b", "2")]
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
        assert!(user_properties(&encoded("[]")).unwrap().is_empty());
    }

    #[test]
    fn user_properties_that_are_not_base64_json_or_one_string_pairs_are_refused() {
        assert!(message(user_properties("not base64!")).contains("not valid base64"));
        assert!(message(user_properties(&encoded("{not json"))).contains("JSON array"));
        assert!(message(user_properties(&encoded(r#"{"a": "b"}"#))).contains("JSON array"));
        for item in [r#"{"a": 1}"#, r#"{"a": "1", "b": "2"}"#, "{}", r#""a""#] {
            let text = message(user_properties(&encoded(&format!(
                r#"[{{"ok": "v"}}, {item}]"#
            ))));
            assert!(text.contains("at index 1"), "{item}: {text}");
        }
    }

    #[test]
    fn the_payload_format_is_one_of_the_models_values_and_utf8_data_must_be_utf8() {
        assert_eq!(
            payload_format("UNSPECIFIED_BYTES", &[0xFF]).unwrap(),
            PayloadFormat::UnspecifiedBytes
        );
        assert_eq!(
            payload_format("UTF8_DATA", "héllo".as_bytes()).unwrap(),
            PayloadFormat::Utf8Data
        );
        let text = message(payload_format("UTF8_DATA", b"ok\xFF"));
        assert!(text.contains("not valid UTF-8 (at byte 2)"), "{text}");
        let text = message(payload_format("utf8", b""));
        assert!(
            text.contains("Value 'utf8' at 'payloadFormatIndicator'"),
            "{text}"
        );
    }

    #[test]
    fn correlation_data_is_the_callers_base64_with_or_without_padding() {
        assert_eq!(correlation_data("AAH/").unwrap(), vec![0, 1, 0xFF]);
        assert_eq!(correlation_data("cmVxLTQy").unwrap(), b"req-42");
        assert_eq!(correlation_data("YQ==").unwrap(), b"a");
        assert_eq!(correlation_data("YQ").unwrap(), b"a");
        assert!(message(correlation_data("a b")).contains("not valid base64"));
    }

    fn query(text: &str) -> QueryParams {
        QueryParams::parse(text).unwrap()
    }

    #[test]
    fn message_expiry_is_seconds_raised_to_one_and_bounded_by_mqtt() {
        assert_eq!(message_expiry(&query("")).unwrap(), None);
        assert_eq!(
            message_expiry(&query("messageExpiry=60")).unwrap(),
            Some(60)
        );
        assert_eq!(message_expiry(&query("messageExpiry=0")).unwrap(), Some(1));
        assert!(message(message_expiry(&query("messageExpiry=-1"))).contains("greater than"));
        assert!(message(message_expiry(&query("messageExpiry=4294967296"))).contains("less than"));
        assert!(message(message_expiry(&query("messageExpiry=soon"))).contains("integer"));
    }

    #[test]
    fn properties_come_from_the_query_string_and_the_mqtt5_headers() {
        let mut headers = HeaderMap::new();
        headers.insert(USER_PROPERTIES, encoded(r#"[{"a": "b"}]"#).parse().unwrap());
        headers.insert(PAYLOAD_FORMAT, "UTF8_DATA".parse().unwrap());
        headers.insert(CORRELATION_DATA, "AAH/".parse().unwrap());
        let parsed = message_properties(
            &query("contentType=application%2Fjson&responseTopic=replies%2F1"),
            &headers,
            b"{}",
        )
        .unwrap();
        assert_eq!(
            parsed,
            MessageProperties {
                content_type: Some("application/json".into()),
                response_topic: Some("replies/1".into()),
                message_expiry_secs: None,
                user_properties: vec![("a".into(), "b".into())],
                payload_format: Some(PayloadFormat::Utf8Data),
                correlation_data: Some(vec![0, 1, 0xFF]),
            }
        );
        assert_eq!(
            message_properties(&query(""), &HeaderMap::new(), b"").unwrap(),
            MessageProperties::default()
        );
    }
}
