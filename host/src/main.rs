fn main() -> std::process::ExitCode {
    // The job keeper `exec` puts between itself and the agent is this
    // binary again; it is not a command a user runs.
    if let Some(code) = accounts::exec::keeper::run_if_asked() {
        return code;
    }
    accounts::cli::main()
}
