//! What people read: the history table and the status report.

use crate::argocd::application::{Application, ApplicationRef, RewindSource as ArgoSource};
use crate::flux::crd::RewindSource;
use crate::release::{AppKey, ReleaseMeta, Status};
use crate::serve::observe::LAST_GOOD_ANNOTATION;
use crate::store::Damaged;

/// `rewind status`: the pin, last-good and latest releases of one rewind source, and its history.
pub fn status_report(
    app_ref: &ApplicationRef,
    app: &AppKey,
    source: &ArgoSource,
    object: &Application,
    metas: &[ReleaseMeta],
) -> String {
    let describe = |m: &ReleaseMeta| match m.rollback_of {
        Some(of) => format!("{} ({}, rollback of {of})", m.revision, m.status),
        None => format!("{} ({})", m.revision, m.status),
    };
    let pin = match object.pinned(source) {
        Some(p) => format!("{p} (REWIND_ROLLBACK_TO)"),
        None => "none: Git's head deploys".into(),
    };
    // What `rewind serve` recorded on the Application, else the store's newest deployed.
    let last_good = object
        .annotation(&source.annotation_key(LAST_GOOD_ANNOTATION))
        .map(|n| match metas.iter().find(|m| m.revision.to_string() == n) {
            Some(m) => describe(m),
            None => format!("{n} (pruned from the store)"),
        })
        .or_else(|| metas.iter().rev().find(|m| m.status == Status::Deployed).map(describe))
        .unwrap_or_else(|| "none".into());
    let latest = metas.last().map_or_else(|| "none".into(), describe);
    let mut out = format!(
        "Application:  {app_ref} (app {app})\npinned:       {pin}\nlast-good:    {last_good}\nlatest:       {latest}\n"
    );
    if !metas.is_empty() {
        out.push('\n');
        out.push_str(&history_table(metas, &[]));
    }
    out
}

/// `rewind status --rewind-source`: what a RewindSource serves and why, its
/// pin, last-good and latest releases, and its history.
pub fn source_status_report(source: &RewindSource, app: &AppKey, metas: &[ReleaseMeta]) -> String {
    let describe = |n: u64| match metas.iter().find(|m| m.revision == n) {
        Some(m) => match m.rollback_of {
            Some(of) => format!("{n} ({}, rollback of {of})", m.status),
            None => format!("{n} ({})", m.status),
        },
        None => format!("{n} (not in the store)"),
    };
    let status = source.status.clone().unwrap_or_default();
    let r = &source.spec.source_ref;
    let source_ns = r.namespace.as_deref().or(source.metadata.namespace.as_deref()).unwrap_or("");
    let ready = status.conditions.iter().find(|c| c.type_ == "Ready").map_or_else(
        || "unknown (rewind serve has not reconciled it yet)".to_string(),
        |c| format!("{} {}: {}", c.status, c.reason, c.message),
    );
    let serving = match (status.served_release, &status.served_revision) {
        (Some(n), Some(rev)) => format!("{} as {rev}", describe(n)),
        _ => "nothing yet".into(),
    };
    let pin = match (source.spec.rollback_target(), &status.auto_rollback) {
        (Some(target), _) => format!("{target} (spec.rollbackTo)"),
        (None, Some(p)) if status.source_revision.as_ref() == Some(&p.source_revision) => format!(
            "{} (automatic rollback after release {} failed, until the source moves on from {})",
            p.release, p.failed, p.source_revision
        ),
        _ => "none: the source's head deploys".into(),
    };
    let last_good = status
        .last_good_revision
        .map(describe)
        .or_else(|| metas.iter().rev().find(|m| m.status == Status::Deployed).map(|m| describe(m.revision)))
        .unwrap_or_else(|| "none".into());
    let latest = metas.last().map_or_else(|| "none".into(), |m| describe(m.revision));
    let mut out = format!(
        "RewindSource: {}/{} (app {app})\nsource:       {} {source_ns}/{} path {:?} at {}\nready:        {ready}\nserving:      {serving}\npinned:       {pin}\nlast-good:    {last_good}\nlatest:       {latest}\n",
        source.metadata.namespace.as_deref().unwrap_or(""),
        source.metadata.name.as_deref().unwrap_or(""),
        r.kind.name(),
        r.name,
        source.spec.path,
        status.source_revision.as_deref().unwrap_or("-"),
    );
    if !metas.is_empty() {
        out.push('\n');
        out.push_str(&history_table(metas, &[]));
    }
    out
}

/// One row per release, and one per damaged entry (in revision order).
pub fn history_table(metas: &[ReleaseMeta], damaged: &[Damaged]) -> String {
    let mut rows: Vec<(u64, [String; 10])> = metas
        .iter()
        .map(|m| {
            (
                m.revision,
                [
                    m.revision.to_string(),
                    m.status.to_string(),
                    m.created.clone(),
                    m.source.revision.as_deref().map_or("-".into(), |r| r.chars().take(12).collect()),
                    m.digest.trim_start_matches("sha256:").chars().take(12).collect(),
                    m.encryption.as_ref().map_or("-".into(), |e| format!("key {}", e.key_id)),
                    m.class.as_ref().map_or("-".into(), |c| match &c.window {
                        Some(w) => format!("{} {w}", c.class),
                        None => c.class.to_string(),
                    }),
                    m.evidence.as_ref().map_or("-".into(), |e| {
                        if e.forced { format!("{} (forced)", e.trigger) } else { e.trigger.to_string() }
                    }),
                    m.evidence.as_ref().and_then(|e| e.reason.clone()).unwrap_or_else(|| "-".into()),
                    m.description.clone(),
                ],
            )
        })
        .collect();
    rows.extend(damaged.iter().map(|d| {
        let revision = d.revision.map_or("?".into(), |r| r.to_string());
        (d.revision.unwrap_or(u64::MAX), {
            let mut row: [String; 10] = std::array::from_fn(|_| "-".to_string());
            row[0] = revision;
            row[1] = "damaged".into();
            row[9] = format!("{}: {}", d.name, d.why);
            row
        })
    }));
    rows.sort_by_key(|(revision, _)| *revision);
    let rows: Vec<[String; 10]> = rows.into_iter().map(|(_, row)| row).collect();
    let header = [
        "REVISION",
        "STATUS",
        "CREATED",
        "GIT REVISION",
        "DIGEST",
        "ENCRYPTED",
        "CLASS",
        "TRIGGER",
        "REASON",
        "DESCRIPTION",
    ]
    .map(String::from);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}
