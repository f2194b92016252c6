//! Kubernetes Events, written one way for every part of rewind (the release
//! store's warnings, the controller's lifecycle Events), in the core/v1 form
//! `kubectl get events` and `kubectl describe` show.

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Api, PostParams};

/// Normal or Warning, as Kubernetes Events are typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Something expected happened.
    Normal,
    /// Someone should look.
    Warning,
}

/// Event messages are capped at 1 KiB by convention (kubectl truncates).
const MAX_MESSAGE_CHARS: usize = 1024;

/// Publishes Events as `rewind`.
#[derive(Clone)]
pub struct Recorder {
    client: kube::Client,
}

impl Recorder {
    /// A recorder using `client`.
    pub fn new(client: kube::Client) -> Recorder {
        Recorder { client }
    }

    /// Records an Event about `regarding` in its namespace. With `name`, the
    /// Event has that name, so every process that reports the same thing
    /// writes one Event (the second gets 409 `AlreadyExists`); else the
    /// server generates a name.
    pub async fn publish(
        &self,
        regarding: &ObjectReference,
        kind: EventType,
        reason: &str,
        message: &str,
        name: Option<String>,
    ) -> Result<(), kube::Error> {
        let namespace = regarding.namespace.clone().unwrap_or_default();
        let now = Time(k8s_openapi::jiff::Timestamp::now());
        let generate_name = name.is_none().then(|| format!("{}.", regarding.name.as_deref().unwrap_or("rewind")));
        let event = Event {
            metadata: ObjectMeta { name, generate_name, namespace: Some(namespace.clone()), ..ObjectMeta::default() },
            involved_object: regarding.clone(),
            reason: Some(reason.into()),
            message: Some(message.chars().take(MAX_MESSAGE_CHARS).collect()),
            type_: Some(
                match kind {
                    EventType::Normal => "Normal",
                    EventType::Warning => "Warning",
                }
                .into(),
            ),
            first_timestamp: Some(now.clone()),
            last_timestamp: Some(now),
            count: Some(1),
            source: Some(EventSource { component: Some("rewind".into()), host: None }),
            reporting_component: Some("rewind".into()),
            ..Event::default()
        };
        let events: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        events.create(&PostParams::default(), &event).await.map(|_| ())
    }
}
