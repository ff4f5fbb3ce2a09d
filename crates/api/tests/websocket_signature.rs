//! The signature of an MQTT-over-WebSocket upgrade (`GET /mqtt`), driven with `oneshot`:
//! presigned as AWS's SDKs do it (service `iotdevicegateway`, `X-Amz-Security-Token` appended
//! after signing), refused with AWS's 403 otherwise, the signer passed on to the handler.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use axum::{Extension, Router, middleware};
use roost_api::{ApiSettings, ApiState, WebSocketSigner, require_websocket_signature};
use roost_registry::{Arns, Registry, StoreOptions};
use roost_sigv4::{Credentials, HttpRequest, presign};
use tower::ServiceExt;

const KEY_ID: &str = "AKIAROOSTTEST0000000";
const SECRET: &str = "roost-test-secret-access-key";
const REGION: &str = "us-east-1";
const HOST: &str = "localhost:8780";

/// `/mqtt` behind the signature check, answering with the signer's access key id; the
/// directory of its registry lives as long as the value.
struct Mqtt {
    router: Router,
    _dir: tempfile::TempDir,
}

async fn mqtt() -> Mqtt {
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
    let state = ApiState::new(
        registry,
        roost_pki::testing::ca("WebSocket Test CA").expect("a CA"),
        ApiSettings {
            credentials: HashMap::from([(KEY_ID.to_owned(), SECRET.to_owned())]),
            region: REGION.to_owned(),
            max_clock_skew: Duration::from_secs(300),
            data_endpoint_host: "mqtt.roost.test".to_owned(),
        },
        None,
    );
    let router = Router::new()
        .route(
            "/mqtt",
            get(
                |Extension(signer): Extension<WebSocketSigner>| async move { signer.access_key_id },
            ),
        )
        .route_layer(middleware::from_fn_with_state(
            state,
            require_websocket_signature,
        ));
    Mqtt { router, _dir: dir }
}

/// The query of a `GET /mqtt` presigned with `secret` for `service` at `at`, valid 60 s.
fn presigned(secret: &str, service: &str, at: SystemTime) -> String {
    let headers: Vec<(&str, &[u8])> = vec![("host", HOST.as_bytes())];
    let request = HttpRequest {
        method: "GET",
        raw_path: "/mqtt",
        raw_query: None,
        headers: &headers,
        body: b"",
    };
    let credentials = Credentials {
        access_key_id: KEY_ID,
        secret_access_key: secret,
        session_token: None,
    };
    presign(
        &request,
        &credentials,
        REGION,
        service,
        at,
        Duration::from_secs(60),
    )
    .expect("the host is present")
}

/// Sends `GET /mqtt?<query>`; the status and the body as text.
async fn upgrade(mqtt: &Mqtt, query: &str) -> (StatusCode, String) {
    let uri = if query.is_empty() {
        "/mqtt".to_owned()
    } else {
        format!("/mqtt?{query}")
    };
    let request = Request::builder()
        .uri(uri)
        .header("host", HOST)
        .body(Body::empty())
        .expect("a valid request");
    let response = mqtt
        .router
        .clone()
        .oneshot(request)
        .await
        .expect("answered");
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .expect("a body");
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn a_presigned_upgrade_reaches_the_handler_as_its_access_key() {
    let mqtt = mqtt().await;
    let query = presigned(SECRET, "iotdevicegateway", SystemTime::now());
    assert_eq!(
        upgrade(&mqtt, &query).await,
        (StatusCode::OK, KEY_ID.to_owned())
    );
}

#[tokio::test]
async fn a_security_token_appended_after_signing_is_accepted() {
    let mqtt = mqtt().await;
    let query = presigned(SECRET, "iotdevicegateway", SystemTime::now());
    let query = format!("{query}&X-Amz-Security-Token=FwoGZXIvYXdzE%2Ftoken%3D");
    assert_eq!(
        upgrade(&mqtt, &query).await,
        (StatusCode::OK, KEY_ID.to_owned())
    );
}

#[tokio::test]
async fn a_wrong_signature_is_refused() {
    let mqtt = mqtt().await;
    let query = presigned("not-the-secret", "iotdevicegateway", SystemTime::now());
    let (status, body) = upgrade(&mqtt, &query).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("signature"), "{body}");

    let good = presigned(SECRET, "iotdevicegateway", SystemTime::now());
    let tampered = good.replace("X-Amz-Expires=60", "X-Amz-Expires=61");
    assert_eq!(upgrade(&mqtt, &tampered).await.0, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_expired_presigned_upgrade_is_refused() {
    let mqtt = mqtt().await;
    let two_minutes_ago = SystemTime::now() - Duration::from_secs(120);
    let (status, body) = upgrade(
        &mqtt,
        &presigned(SECRET, "iotdevicegateway", two_minutes_ago),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("expired"), "{body}");
}

#[tokio::test]
async fn an_upgrade_signed_for_another_service_is_refused() {
    let mqtt = mqtt().await;
    for service in ["iot", "iotdata"] {
        let (status, body) = upgrade(&mqtt, &presigned(SECRET, service, SystemTime::now())).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{service}");
        assert!(body.contains("iotdevicegateway"), "{body}");
    }
}

#[tokio::test]
async fn an_unsigned_upgrade_is_refused() {
    let mqtt = mqtt().await;
    let (status, body) = upgrade(&mqtt, "").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        body.contains("MissingAuthenticationToken") || body.contains("Missing"),
        "{body}"
    );
}
