//! `cmcop demo`: the server with a live exercise scenario (placeholder until the scenario lands).

use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::server::{Application, StartError};

pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), StartError> {
    let app = Application::build(config).await?;
    app.run(shutdown).await
}
