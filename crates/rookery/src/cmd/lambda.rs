//! `rookery lambda`: one service as an AWS Lambda function.

#[derive(clap::Args)]
pub struct Args {
    #[arg(value_enum, env = "ROOKERY_LAMBDA_SERVICE")]
    service: rookery::lambda::LambdaService,
    #[arg(long, value_enum, default_value = "http", env = "ROOKERY_LAMBDA_ROLE")]
    role: rookery::lambda::LambdaRole,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let Args { service, role } = args;
    rookery::lambda::run(service, role).await
}
