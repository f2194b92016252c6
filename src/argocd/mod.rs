//! Argo CD: the Config Management Plugin contract (`generate`), the CMP
//! environment it runs in (`env`), and Applications as people and the
//! controller see and pin them (`application`, `client`, `plugin_env`).

pub mod application;
pub mod client;
pub mod env;
mod generate;
pub mod patch;
pub mod plugin_env;

pub use env::ArgoEnv;
pub use generate::{GenerateOptions, STORE_FAILED_REASON, StoreErrorPolicy, generate};
