//! The `braid` executable: parse the command line, start logging, dispatch.

fn main() {
    let cli = braid::cli::parse();
    braid::logging::init();
    let code = braid::run(cli);
    std::process::exit(code);
}
