using System.CommandLine;

namespace ModalFlow.Cli.Commands;

/// <summary>`modalflow demo`: the main job on the embedded default model and data.</summary>
public static class DemoCommand
{
    public static Command Create(CliContext ctx)
    {
        var cmd = new Command("demo", "Run the demo on the embedded model (no network, no external data)");
        cmd.SetAction(parse => ctx.Guard(parse, () =>
        {
            ctx.Err.WriteLine("demo: not built yet");
            return CliContext.ExitError;
        }));
        return cmd;
    }
}
