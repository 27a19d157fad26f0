fn main() -> std::process::ExitCode {
    accounts::cli::main()
}
