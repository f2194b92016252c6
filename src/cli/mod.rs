//! The command line, thin: parse the flags ([`args`]), run one function per
//! command ([`commands`]), print what it returns. Every command builds its
//! whole output in memory and it is printed only on success, so a failure
//! prints nothing on stdout (Argo CD would read empty output as "no resources").

pub mod args;
mod commands;
mod flux;
mod report;

use crate::error::Result;
use args::{Cli, Command};
use clap::Parser;
use commands::Globals;
use std::io::Write;
use std::process::ExitCode;

/// Parses arguments, runs the command, prints its output; the binary's `main`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let controller = matches!(cli.command, Command::Serve(_));
    init_logging(controller);
    if !controller {
        crate::manifest::use_huge_pages();
    }
    match run(cli) {
        Ok(out) => {
            let mut stdout = std::io::stdout().lock();
            match stdout.write_all(&out).and_then(|()| stdout.flush()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: cannot write to stdout: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Commands log warnings only, without time; the controller logs what it
/// does, with time. `REWIND_LOG` overrides the level either way.
fn init_logging(controller: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("REWIND_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(if controller { "info,kube=warn,hyper=warn" } else { "warn" })
    });
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = if controller { builder.try_init() } else { builder.without_time().try_init() };
}

fn run(cli: Cli) -> Result<Vec<u8>> {
    let g = Globals {
        store: cli.store,
        history_max: cli.history_max,
        renderers: cli.renderers,
        encryption_key_file: cli.encryption_key_file,
        s3: cli.s3.settings()?,
        limits: cli.limits.limits(),
    };
    match cli.command {
        Command::Render(a) => commands::render(&g, a),
        Command::Generate(a) => commands::generate_cmd(&g, a),
        Command::History(a) => commands::history(&g, a),
        Command::Show(a) => commands::show(&g, a),
        Command::Diff(a) => commands::diff(&g, a),
        Command::Rollback(a) => commands::rollback_cmd(&g, a),
        Command::Status(a) => commands::status(&g, a),
        Command::Serve(a) => commands::serve(&g, a),
        Command::Mark(a) => commands::mark(&g, a),
        Command::Push(a) => flux::push(&g, a),
        Command::Rekey(a) => commands::rekey(&g, a),
    }
}
