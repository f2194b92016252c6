//! What the API server serves, from its discovery documents, in Argo CD's
//! `KUBE_API_VERSIONS` form: `group/version` and `group/version/Kind`
//! entries (core as `v1` and `v1/ConfigMap`).

/// Every served group/version and group/version/Kind.
pub async fn served_api_versions(client: &kube::Client) -> Result<Vec<String>, kube::Error> {
    let discovery = kube::discovery::Discovery::new(client.clone()).run().await?;
    let mut entries = Vec::new();
    for group in discovery.groups() {
        for version in group.versions() {
            let resources = group.versioned_resources(version);
            if let Some((first, _)) = resources.first() {
                entries.push(first.api_version.clone());
            }
            entries.extend(resources.into_iter().map(|(r, _)| format!("{}/{}", r.api_version, r.kind)));
        }
    }
    entries.sort();
    entries.dedup();
    Ok(entries)
}
