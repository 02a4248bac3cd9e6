//! `node-simulator`: N simulated nodes driven through the real API.
//! See `kubelet/README.md` for the flags and the pod lifecycle convention.

use clap::Parser;
use kubelet::simulator::{self, flags::Flags};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    component::telemetry::init();
    let flags = Flags::parse();
    let config = flags.config()?;
    let client = component::client_from_kubeconfig(&component::ClientOptions::new(flags.kubeconfig.clone())).await?;
    simulator::run(client, config, component::shutdown::signal()).await
}
