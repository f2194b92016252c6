//! `POST /flux/events`: notification-controller's `generic-hmac` provider
//! as a low-latency hint. The HMAC-SHA256 of the raw body (key: the token
//! file) must match `X-Signature: sha256=<hex>`; then the event's object is
//! handed to the Flux worker, which looks again at once instead of at its
//! next interval. A bad signature gets 401 and changes nothing. The hint
//! carries no state: what rewind does still comes from the API server.

use super::flux::{FluxMessage, Hint};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha2::Sha256;
use std::collections::BTreeMap;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};

/// The webhook's secret and where hints go.
pub struct Webhook {
    /// The HMAC key (the token file's content, without a trailing newline).
    pub token: Vec<u8>,
    /// The Flux worker.
    pub tx: Mutex<Sender<FluxMessage>>,
}

/// Checks `X-Signature: sha256=<hex>` over `body` in constant time.
pub fn signature_ok(token: &[u8], header: Option<&str>, body: &[u8]) -> bool {
    let Some(hex) = header.and_then(|h| h.trim().strip_prefix("sha256=")) else { return false };
    let Ok(tag) = hex::decode(hex) else { return false };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(token) else { return false };
    mac.update(body);
    mac.verify_slice(&tag).is_ok()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Event {
    involved_object: InvolvedObject,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct InvolvedObject {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    name: String,
}

/// The hint an event body gives; metadata keys come bare (`revision`) or,
/// as older Flux docs show them, prefixed with the controller's group.
pub fn hint_of(body: &[u8]) -> Option<Hint> {
    let event: Event = serde_json::from_slice(body).ok()?;
    let meta = |key: &str| {
        event
            .metadata
            .get(key)
            .or_else(|| event.metadata.get(&format!("kustomize.toolkit.fluxcd.io/{key}")))
            .or_else(|| event.metadata.get(&format!("source.toolkit.fluxcd.io/{key}")))
            .cloned()
    };
    let o = event.involved_object;
    (!o.kind.is_empty() && !o.name.is_empty()).then(|| Hint {
        kind: o.kind,
        namespace: o.namespace,
        name: o.name,
        revision: meta("revision"),
        reason: event.reason,
    })
}

/// `POST /flux/events`.
pub async fn flux_events(State(hook): State<Arc<Webhook>>, headers: HeaderMap, body: Bytes) -> (StatusCode, String) {
    let signature = headers.get("x-signature").and_then(|v| v.to_str().ok());
    if !signature_ok(&hook.token, signature, &body) {
        tracing::warn!("/flux/events: refused an event with a missing or wrong X-Signature");
        return (StatusCode::UNAUTHORIZED, "X-Signature does not match the HMAC-SHA256 of the body\n".into());
    }
    let Some(hint) = hint_of(&body) else {
        return (StatusCode::BAD_REQUEST, "not a Flux event: involvedObject.kind and .name are required\n".into());
    };
    tracing::info!(
        "/flux/events: {} {}/{} {} (revision {}): looking again now",
        hint.kind,
        hint.namespace,
        hint.name,
        hint.reason,
        hint.revision.as_deref().unwrap_or("-")
    );
    let sent = hook.tx.lock().unwrap_or_else(|e| e.into_inner()).send(FluxMessage::Hint(hint));
    match sent {
        Ok(()) => (StatusCode::ACCEPTED, "accepted\n".into()),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "the Flux worker has stopped\n".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(token: &[u8], body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(token).unwrap();
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn signatures_are_checked_over_the_raw_body() {
        let body = br#"{"involvedObject":{"kind":"GitRepository","namespace":"flux-system","name":"apps"}}"#;
        let good = sign(b"s3cret", body);
        assert!(signature_ok(b"s3cret", Some(&good), body));
        assert!(!signature_ok(b"other", Some(&good), body));
        assert!(!signature_ok(b"s3cret", Some(&good), &body[1..]));
        assert!(!signature_ok(b"s3cret", Some(good.trim_start_matches("sha256=")), body));
        assert!(!signature_ok(b"s3cret", None, body));
        assert!(!signature_ok(b"s3cret", Some("sha256=zz"), body));
    }

    #[test]
    fn both_metadata_key_forms_are_read() {
        let bare = br#"{"involvedObject":{"kind":"Kustomization","namespace":"ns","name":"k"},"reason":"HealthCheckFailed","metadata":{"revision":"v2@sha256:ab"}}"#;
        let prefixed = br#"{"involvedObject":{"kind":"Kustomization","namespace":"ns","name":"k"},"metadata":{"kustomize.toolkit.fluxcd.io/revision":"v2@sha256:ab"}}"#;
        for body in [&bare[..], &prefixed[..]] {
            let hint = hint_of(body).unwrap();
            assert_eq!((hint.kind.as_str(), hint.revision.as_deref()), ("Kustomization", Some("v2@sha256:ab")));
        }
        assert!(hint_of(b"{}").is_none() && hint_of(b"not json").is_none());
    }
}
