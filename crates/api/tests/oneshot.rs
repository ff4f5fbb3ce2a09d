//! The control plane's router driven with `tower::ServiceExt::oneshot`, no socket: the SigV4
//! layer (requests signed with `roost_sigv4::sign`), the AWS error encoding (status,
//! `x-amzn-ErrorType`, `__type`, modeled members), unknown routes and methods, the
//! unauthenticated `/health` and `/metrics`, and topic rules with their destinations'
//! confirmation (a notifier that records what it would send, the `enableUrl` opened unsigned).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use roost_api::{ApiSettings, ApiState};
use roost_registry::{Arns, Registry, StoreOptions};
use roost_sigv4::{Credentials, HttpRequest, sign};
use serde_json::{Value, json};
use tower::ServiceExt;

const KEY_ID: &str = "AKIAROOSTTEST0000000";
const SECRET: &str = "roost-test-secret-access-key";
const REGION: &str = "us-east-1";
const HOST: &str = "localhost:8780";

/// A router over a fresh SQLite registry; the directory lives as long as the value.
struct Api {
    router: Router,
    _dir: tempfile::TempDir,
}

async fn api() -> Api {
    api_with(|state| state).await
}

/// [`api`] with its state configured by `configure` (a notifier, a setting).
async fn api_with(configure: impl FnOnce(ApiState) -> ApiState) -> Api {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let registry = Registry::open(
        &StoreOptions {
            url: format!("sqlite://{}", dir.path().join("registry.db").display()),
            max_readers: 2,
        },
        Arns::new(REGION, "123456789012"),
    )
    .await
    .expect("the registry opens");
    let issuer = roost_pki::testing::ca("Oneshot Issuing CA").expect("a CA");
    let state = ApiState::new(
        registry,
        issuer,
        ApiSettings {
            credentials: HashMap::from([(KEY_ID.to_owned(), SECRET.to_owned())]),
            region: REGION.to_owned(),
            max_clock_skew: Duration::from_secs(300),
            data_endpoint_host: "mqtt.roost.test".to_owned(),
        },
        Some(Arc::new(|| "roost_up 1\n".to_owned())),
    );
    Api {
        router: configure(state).into_router(),
        _dir: dir,
    }
}

/// How to sign a request: with which keys, for which region and service, at what time.
struct Signer {
    key_id: &'static str,
    secret: &'static str,
    region: &'static str,
    service: &'static str,
    at: SystemTime,
}

impl Default for Signer {
    fn default() -> Self {
        Self {
            key_id: KEY_ID,
            secret: SECRET,
            region: REGION,
            service: "iot",
            at: SystemTime::now(),
        }
    }
}

/// A request as botocore sends it (raw path and query, JSON body), signed by `signer`.
fn signed(method: &str, path_and_query: &str, body: &str, signer: &Signer) -> Request<Body> {
    let (path, query) = match path_and_query.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (path_and_query, None),
    };
    let headers: Vec<(&str, &[u8])> = vec![
        ("host", HOST.as_bytes()),
        ("content-type", b"application/json"),
    ];
    let to_sign = HttpRequest {
        method,
        raw_path: path,
        raw_query: query,
        headers: &headers,
        body: body.as_bytes(),
    };
    let credentials = Credentials {
        access_key_id: signer.key_id,
        secret_access_key: signer.secret,
        session_token: None,
    };
    let mut request = Request::builder()
        .method(method)
        .uri(path_and_query)
        .header("host", HOST)
        .header("content-type", "application/json");
    for (name, value) in sign(
        &to_sign,
        &credentials,
        signer.region,
        signer.service,
        signer.at,
    ) {
        request = request.header(name, value);
    }
    request
        .body(Body::from(body.to_owned()))
        .expect("a valid request")
}

fn unsigned(method: &str, path: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(path)
        .header("host", HOST)
        .body(Body::empty())
        .expect("a valid request")
}

/// Sends `request` through the router; returns the response and its body as JSON (or text).
async fn send(api: &Api, request: Request<Body>) -> (Response<Body>, Value) {
    let response = api
        .router
        .clone()
        .oneshot(request)
        .await
        .expect("the router answers");
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .expect("a readable body");
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (Response::from_parts(parts, Body::empty()), value)
}

async fn call(api: &Api, method: &str, path: &str, body: &str) -> (Response<Body>, Value) {
    send(api, signed(method, path, body, &Signer::default())).await
}

/// Asserts the AWS error encoding: status, `x-amzn-ErrorType: <type>:`, `__type`, a message.
fn assert_aws_error(response: &Response<Body>, body: &Value, status: StatusCode, aws_type: &str) {
    assert_eq!(response.status(), status, "{body}");
    assert_eq!(
        response.headers()["x-amzn-ErrorType"],
        format!("{aws_type}:").as_str()
    );
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(body["__type"], aws_type, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

#[tokio::test]
async fn health_answers_without_a_signature() {
    let api = api().await;
    let (response, body) = send(&api, unsigned("GET", "/health")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body, json!({ "status": "ok" }));
    assert!(response.headers().contains_key("x-amzn-RequestId"));
}

#[tokio::test]
async fn metrics_answer_without_a_signature_in_prometheus_text() {
    let api = api().await;
    let (response, body) = send(&api, unsigned("GET", "/metrics")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(body, Value::String("roost_up 1\n".into()));
}

#[tokio::test]
async fn a_signed_request_reaches_its_operation() {
    let api = api().await;
    let (response, body) = call(&api, "GET", "/things", "").await;
    assert_eq!(response.status(), StatusCode::OK, "{body}");
    assert_eq!(body, json!({ "things": [] }));
    assert!(response.headers().contains_key("x-amzn-RequestId"));

    let (response, body) = call(
        &api,
        "POST",
        "/things/my%3Athing",
        r#"{"attributePayload":{"attributes":{"a":"1"}}}"#,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK, "{body}");
    assert_eq!(
        body["thingName"], "my:thing",
        "labels are decoded after routing"
    );
    assert_eq!(
        body["thingArn"],
        "arn:aws:iot:us-east-1:123456789012:thing/my:thing"
    );
}

#[tokio::test]
async fn an_unsigned_request_is_missing_its_authentication_token() {
    let api = api().await;
    let (response, body) = send(&api, unsigned("GET", "/things")).await;
    assert_aws_error(
        &response,
        &body,
        StatusCode::FORBIDDEN,
        "MissingAuthenticationTokenException",
    );
    let (response, body) = send(&api, unsigned("DELETE", "/policies/p")).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "{body}");
}

#[tokio::test]
async fn an_unknown_access_key_is_unrecognized() {
    let api = api().await;
    let signer = Signer {
        key_id: "AKIAUNKNOWN000000000",
        ..Signer::default()
    };
    let (response, body) = send(&api, signed("GET", "/things", "", &signer)).await;
    assert_aws_error(
        &response,
        &body,
        StatusCode::FORBIDDEN,
        "UnrecognizedClientException",
    );
}

#[tokio::test]
async fn a_wrong_secret_region_service_or_time_is_an_invalid_signature() {
    let api = api().await;
    let signers = [
        Signer {
            secret: "not-the-secret",
            ..Signer::default()
        },
        Signer {
            region: "eu-west-1",
            ..Signer::default()
        },
        Signer {
            service: "iotdata",
            ..Signer::default()
        },
        Signer {
            at: SystemTime::now() - Duration::from_secs(3600),
            ..Signer::default()
        },
    ];
    for signer in &signers {
        let (response, body) = send(&api, signed("GET", "/things", "", signer)).await;
        assert_aws_error(
            &response,
            &body,
            StatusCode::FORBIDDEN,
            "InvalidSignatureException",
        );
    }
}

#[tokio::test]
async fn a_body_changed_after_signing_is_an_invalid_signature_and_writes_nothing() {
    let api = api().await;
    let request = signed("POST", "/things/original", "{}", &Signer::default());
    let (parts, _) = request.into_parts();
    let tampered = Request::from_parts(
        parts,
        Body::from(r#"{"attributePayload":{"attributes":{"evil":"1"}}}"#),
    );
    let (response, body) = send(&api, tampered).await;
    assert_aws_error(
        &response,
        &body,
        StatusCode::FORBIDDEN,
        "InvalidSignatureException",
    );
    let (response, _) = call(&api, "GET", "/things/original", "").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_malformed_authorization_header_is_an_incomplete_signature() {
    let api = api().await;
    let request = Request::builder()
        .method("GET")
        .uri("/things")
        .header("host", HOST)
        .header("authorization", "AWS4-HMAC-SHA256 Credential=garbage")
        .body(Body::empty())
        .unwrap();
    let (response, body) = send(&api, request).await;
    assert_aws_error(
        &response,
        &body,
        StatusCode::FORBIDDEN,
        "IncompleteSignatureException",
    );
}

#[tokio::test]
async fn registry_errors_carry_their_modeled_status_and_type() {
    let api = api().await;
    let (response, body) = call(&api, "GET", "/things/missing", "").await;
    assert_aws_error(
        &response,
        &body,
        StatusCode::NOT_FOUND,
        "ResourceNotFoundException",
    );

    let (response, body) = call(&api, "GET", "/things/bad%20name", "").await;
    assert_aws_error(
        &response,
        &body,
        StatusCode::BAD_REQUEST,
        "InvalidRequestException",
    );
    assert!(body["message"].as_str().unwrap().contains("thingName"));

    let (response, body) = call(&api, "POST", "/keys-and-certificate?setAsActive=true", "").await;
    assert_eq!(response.status(), StatusCode::OK, "{body}");
    let id = body["certificateId"].as_str().unwrap().to_owned();
    let (response, body) = call(&api, "DELETE", &format!("/certificates/{id}"), "").await;
    assert_aws_error(
        &response,
        &body,
        StatusCode::NOT_ACCEPTABLE,
        "CertificateStateException",
    );

    let (response, body) = call(&api, "POST", "/policies/p", r#"{"policyDocument":"{"}"#).await;
    assert_aws_error(
        &response,
        &body,
        StatusCode::BAD_REQUEST,
        "MalformedPolicyException",
    );
}

#[tokio::test]
async fn resource_already_exists_names_the_resource() {
    let api = api().await;
    call(&api, "POST", "/thing-groups/g", "{}").await;
    let (first, created) = call(&api, "POST", "/thing-groups/g", "{}").await;
    assert_eq!(
        first.status(),
        StatusCode::OK,
        "creating it again the same way is fine"
    );
    let (response, body) = call(
        &api,
        "POST",
        "/thing-groups/g",
        r#"{"thingGroupProperties":{"thingGroupDescription":"other"}}"#,
    )
    .await;
    assert_aws_error(
        &response,
        &body,
        StatusCode::CONFLICT,
        "ResourceAlreadyExistsException",
    );
    assert_eq!(body["resourceId"], created["thingGroupId"]);
    assert_eq!(
        body["resourceArn"],
        "arn:aws:iot:us-east-1:123456789012:thinggroup/g"
    );
}

#[tokio::test]
async fn malformed_json_is_an_invalid_request_naming_the_member() {
    let api = api().await;
    let (response, body) = call(&api, "POST", "/things/t", "{not json").await;
    assert_aws_error(
        &response,
        &body,
        StatusCode::BAD_REQUEST,
        "InvalidRequestException",
    );
    let (response, body) = call(&api, "PATCH", "/things/t", r#"{"expectedVersion":"one"}"#).await;
    assert_aws_error(
        &response,
        &body,
        StatusCode::BAD_REQUEST,
        "InvalidRequestException",
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("expectedVersion"),
        "{body}"
    );
}

#[tokio::test]
async fn a_label_that_does_not_decode_is_an_invalid_request() {
    let api = api().await;
    let (response, body) = call(&api, "GET", "/things/%FF%FE", "").await;
    assert_aws_error(
        &response,
        &body,
        StatusCode::BAD_REQUEST,
        "InvalidRequestException",
    );
}

#[tokio::test]
async fn an_arn_label_keeps_its_encoded_slash_within_one_segment() {
    let api = api().await;
    let (_, cert) = call(&api, "POST", "/keys-and-certificate", "").await;
    let arn = cert["certificateArn"].as_str().unwrap();
    let encoded = arn.replace(':', "%3A").replace('/', "%2F");
    let (response, body) = call(&api, "POST", &format!("/attached-policies/{encoded}"), "").await;
    assert_eq!(response.status(), StatusCode::OK, "{body}");
    assert_eq!(body, json!({ "policies": [] }));
}

#[tokio::test]
async fn an_unknown_route_is_an_unknown_operation() {
    let api = api().await;
    let (response, body) = call(&api, "GET", "/no-such-operation", "").await;
    assert_aws_error(
        &response,
        &body,
        StatusCode::NOT_FOUND,
        "UnknownOperationException",
    );
}

#[tokio::test]
async fn a_known_route_with_another_method_is_not_allowed() {
    let api = api().await;
    let (response, body) = call(&api, "PATCH", "/certificates", "").await;
    assert_aws_error(
        &response,
        &body,
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowedException",
    );
}

#[tokio::test]
async fn describe_endpoint_gives_the_configured_data_host() {
    let api = api().await;
    let (response, body) = call(&api, "GET", "/endpoint?endpointType=iot%3AData-ATS", "").await;
    assert_eq!(response.status(), StatusCode::OK, "{body}");
    assert_eq!(body, json!({ "endpointAddress": "mqtt.roost.test" }));
}

// -- topic rules -------------------------------------------------------------------------------

const RULE: &str = r#"{"sql": "SELECT temp FROM 'sensors/+/data' WHERE temp > 30",
    "description": "hot",
    "actions": [{"republish": {"topic": "alerts/${topic(2)}", "roleArn": "arn:aws:iam::123456789012:role/r", "qos": 1}}],
    "errorAction": {"http": {"url": "https://example.com/errors"}}}"#;

#[tokio::test]
async fn a_topic_rule_is_created_and_echoed_as_given() {
    let api = api().await;
    let (response, body) = call(&api, "POST", "/rules/hot_sensors", RULE).await;
    assert_eq!(response.status(), StatusCode::OK, "{body}");
    let (response, body) = call(&api, "GET", "/rules/hot_sensors", "").await;
    assert_eq!(response.status(), StatusCode::OK, "{body}");
    assert_eq!(
        body["ruleArn"],
        "arn:aws:iot:us-east-1:123456789012:rule/hot_sensors"
    );
    let rule = &body["rule"];
    assert!(
        rule["createdAt"].as_f64().is_some_and(|t| t > 1.0e9),
        "{rule}"
    );
    let given: Value = serde_json::from_str(RULE).unwrap();
    let mut expected = given.clone();
    expected["ruleName"] = json!("hot_sensors");
    expected["createdAt"] = rule["createdAt"].clone();
    expected["ruleDisabled"] = json!(false);
    expected["awsIotSqlVersion"] = json!("2015-10-08");
    assert_eq!(rule, &expected);

    let (_, listed) = call(&api, "GET", "/rules?topic=sensors%2F%2B%2Fdata", "").await;
    assert_eq!(listed["rules"][0]["topicPattern"], "sensors/+/data");
    assert_eq!(listed["rules"][0]["ruleDisabled"], false);
}

#[tokio::test]
async fn sql_that_does_not_parse_is_a_sql_parse_exception_with_its_position() {
    let api = api().await;
    let (response, body) = call(
        &api,
        "POST",
        "/rules/r",
        r#"{"sql": "SELECT FROM 'x'", "actions": []}"#,
    )
    .await;
    assert_aws_error(
        &response,
        &body,
        StatusCode::BAD_REQUEST,
        "SqlParseException",
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("line 1, column "),
        "{body}"
    );
}

#[tokio::test]
async fn a_missing_rule_is_unauthorized_as_on_aws() {
    let api = api().await;
    for (method, path) in [
        ("GET", "/rules/ghost"),
        ("DELETE", "/rules/ghost"),
        ("POST", "/rules/ghost/enable"),
    ] {
        let (response, body) = call(&api, method, path, "").await;
        assert_aws_error(
            &response,
            &body,
            StatusCode::UNAUTHORIZED,
            "UnauthorizedException",
        );
        assert_eq!(body["message"], "Access to topic rule 'ghost' was denied");
    }
}

#[tokio::test]
async fn list_topic_rules_takes_up_to_ten_thousand_results_a_page() {
    let api = api().await;
    let (response, body) = call(&api, "GET", "/rules?maxResults=10000", "").await;
    assert_eq!(response.status(), StatusCode::OK, "{body}");
    assert_eq!(body, json!({ "rules": [] }));
    let (response, body) = call(&api, "GET", "/rules?maxResults=10001", "").await;
    assert_aws_error(
        &response,
        &body,
        StatusCode::BAD_REQUEST,
        "InvalidRequestException",
    );
}

/// What a notifier was asked to send.
#[derive(Debug, Clone)]
struct Sent {
    arn: String,
    url: String,
    token: String,
    enable_url: String,
}

/// A notifier that records each confirmation and answers with `outcome`.
struct Recording {
    sent: tokio::sync::mpsc::UnboundedSender<Sent>,
    outcome: Result<(), roost_api::ConfirmationFailed>,
}

impl roost_api::DestinationNotifier for Recording {
    fn send_confirmation<'a>(
        &'a self,
        arn: &'a str,
        url: &'a str,
        token: &'a str,
        enable_url: &'a str,
    ) -> std::pin::Pin<
        Box<dyn Future<Output = Result<(), roost_api::ConfirmationFailed>> + Send + 'a>,
    > {
        let _ = self.sent.send(Sent {
            arn: arn.into(),
            url: url.into(),
            token: token.into(),
            enable_url: enable_url.into(),
        });
        let outcome = self.outcome.clone();
        Box::pin(async move { outcome })
    }
}

async fn api_with_notifier(
    outcome: Result<(), roost_api::ConfirmationFailed>,
) -> (Api, tokio::sync::mpsc::UnboundedReceiver<Sent>) {
    let (sent, received) = tokio::sync::mpsc::unbounded_channel();
    let notifier = Arc::new(Recording { sent, outcome });
    let api = api_with(|state| {
        state
            .with_destination_notifier(notifier)
            .with_public_url("https://iot.roost.test/")
    })
    .await;
    (api, received)
}

/// A destination ARN as botocore puts it in a greedy label: `:` encoded, `/` kept.
fn arn_label(arn: &str) -> String {
    arn.replace(':', "%3A")
}

async fn destination_status(api: &Api, arn: &str) -> Value {
    let (response, body) = call(api, "GET", &format!("/destinations/{}", arn_label(arn)), "").await;
    assert_eq!(response.status(), StatusCode::OK, "{body}");
    body["topicRuleDestination"].clone()
}

#[tokio::test]
async fn a_destination_is_confirmed_by_opening_its_enable_url_without_a_signature() {
    let (api, mut sent) = api_with_notifier(Ok(())).await;
    let (response, body) = call(
        &api,
        "POST",
        "/destinations",
        r#"{"destinationConfiguration": {"httpUrlConfiguration": {"confirmationUrl": "https://hooks.example.com/iot"}}}"#,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK, "{body}");
    let destination = &body["topicRuleDestination"];
    assert_eq!(destination["status"], "IN_PROGRESS");
    assert_eq!(
        destination["httpUrlProperties"],
        json!({"confirmationUrl": "https://hooks.example.com/iot"})
    );
    let arn = destination["arn"].as_str().unwrap().to_owned();
    assert!(arn.contains(":ruledestination/http/"), "{arn}");

    let sent = sent.recv().await.expect("a confirmation was sent");
    assert_eq!(sent.arn, arn);
    assert_eq!(sent.url, "https://hooks.example.com/iot");
    assert_eq!(
        sent.enable_url,
        format!("https://iot.roost.test/confirmdestination/{}", sent.token)
    );

    let (response, body) = send(
        &api,
        unsigned("GET", &format!("/confirmdestination/{}", sent.token)),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK, "{body}");
    assert_eq!(destination_status(&api, &arn).await["status"], "ENABLED");

    let (_, listed) = call(&api, "GET", "/destinations?maxResults=1000", "").await;
    assert_eq!(listed["destinationSummaries"][0]["arn"], arn.as_str());
    assert_eq!(
        listed["destinationSummaries"][0]["httpUrlSummary"]["confirmationUrl"],
        "https://hooks.example.com/iot"
    );
}

#[tokio::test]
async fn only_the_enable_url_is_open_without_a_signature() {
    let api = api().await;
    let (response, body) = send(&api, unsigned("GET", "/confirmdestination/not-a-token")).await;
    assert_aws_error(
        &response,
        &body,
        StatusCode::BAD_REQUEST,
        "InvalidRequestException",
    );
    let (response, _) = send(&api, unsigned("GET", "/destinations")).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let (response, _) = send(&api, unsigned("GET", "/rules")).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_confirmation_that_cannot_be_delivered_marks_the_destination_error() {
    let failed = roost_api::ConfirmationFailed {
        reason: "connection refused".into(),
    };
    let (api, mut sent) = api_with_notifier(Err(failed)).await;
    let (_, body) = call(
        &api,
        "POST",
        "/destinations",
        r#"{"destinationConfiguration": {"httpUrlConfiguration": {"confirmationUrl": "https://down.example.com"}}}"#,
    )
    .await;
    let arn = body["topicRuleDestination"]["arn"]
        .as_str()
        .unwrap()
        .to_owned();
    sent.recv().await.expect("a confirmation was attempted");
    // The failure is recorded by the task that sent it, just after the notifier returns.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let destination = destination_status(&api, &arn).await;
        if destination["status"] == "ERROR" {
            assert_eq!(destination["statusReason"], "connection refused");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{destination}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Re-challenging sends a new confirmation.
    let (response, body) = call(
        &api,
        "PATCH",
        "/destinations",
        &json!({"arn": arn, "status": "IN_PROGRESS"}).to_string(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK, "{body}");
    assert_eq!(sent.recv().await.expect("a second confirmation").arn, arn);
}

#[tokio::test]
async fn destinations_start_enabled_when_configured_so() {
    let (sent, mut received) = tokio::sync::mpsc::unbounded_channel();
    let notifier = Arc::new(Recording {
        sent,
        outcome: Ok(()),
    });
    let api = api_with(|state| {
        state
            .with_destination_notifier(notifier)
            .with_destinations_enabled_on_create(true)
    })
    .await;
    let (_, body) = call(
        &api,
        "POST",
        "/destinations",
        r#"{"destinationConfiguration": {"httpUrlConfiguration": {"confirmationUrl": "http://127.0.0.1:9000"}}}"#,
    )
    .await;
    assert_eq!(body["topicRuleDestination"]["status"], "ENABLED", "{body}");
    assert!(received.try_recv().is_err(), "nothing to confirm");
}

#[tokio::test]
async fn a_rule_with_an_http_action_creates_and_challenges_its_destination() {
    let (api, mut sent) = api_with_notifier(Ok(())).await;
    let (response, body) = call(&api, "POST", "/rules/hot_sensors", RULE).await;
    assert_eq!(response.status(), StatusCode::OK, "{body}");
    let sent = sent
        .recv()
        .await
        .expect("the errorAction's URL is challenged");
    assert_eq!(sent.url, "https://example.com/errors");
    assert_eq!(
        destination_status(&api, &sent.arn).await["status"],
        "IN_PROGRESS"
    );
}
