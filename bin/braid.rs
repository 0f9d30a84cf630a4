//! The `braid` executable: parse the command line, start logging, dispatch.

use clap::Parser;

fn main() {
    let cli = braid::cli::Cli::parse();
    braid::logging::init();
    let code = braid::run(cli);
    std::process::exit(code);
}
