//! What every Rookery service shares.

pub mod db;
pub mod directory;
#[cfg(feature = "dynamodb")]
pub mod dynamo;
pub mod error;
pub mod events;
pub mod extract;
pub mod group_commit;
pub mod http;
pub mod identity;
pub mod ids;
pub mod pagination;
pub mod relations;
pub mod render_memo;
pub mod schema;
pub mod secret;
pub mod telemetry;
pub mod time;

pub use error::{ApiError, ApiResult};
