import ArgumentParser

@main
struct Vipsec: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vipsec",
        abstract: "One IPsec endpoint for a cluster of Linux hosts behind a distributed virtual IP (DVIPA).",
        discussion: """
            The routing node (`vipsec routing`) owns the DVIPA and runs vipsec's IKEv2 daemon; \
            it hands the negotiated SAs over an authenticated, encrypted cluster channel to the \
            agent on every target host (`vipsec target`), which programs them into its kernel XFRM.
            """,
        version: VipsecVersion.string,
        subcommands: [RoutingCommand.self, TargetCommand.self, StatusCommand.self, ListSAsCommand.self, InitiateCommand.self,
                      TerminateCommand.self, RekeyCommand.self, RedirectCommand.self, ReloadCommand.self]
    )
}
