using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Serialization;
using ModalFlow.Platform;

namespace ModalFlow.Cli;

/// <summary>The console a command writes to, and the shared error policy (exit codes, no stack traces unless --verbose).</summary>
public sealed class CliContext(TextWriter stdout, TextWriter stderr)
{
    public const int ExitOk = 0, ExitError = 1, ExitBadInput = 2, ExitCancelled = 130;

    /// <summary>A run's self-check found a knockout the naive engine disagrees with (run, report and merge of such a store).</summary>
    public const int ExitSelfCheckFailed = 3;

    public TextWriter Out { get; } = stdout;
    public TextWriter Err { get; } = stderr;

    /// <summary>The arguments this command was started with (to print the command that resumes a run).</summary>
    public IReadOnlyList<string> Args { get; init; } = [];

    /// <summary>Test seam: wraps the knockout engine of `run` (a deliberately wrong engine proves the self-check catches it).</summary>
    internal Func<ModalFlow.Tracing.IKnockoutEngine, ModalFlow.Tracing.IKnockoutEngine>? EngineWrapper { get; init; }

    /// <summary>The command line as a shell would take it back: <c>modalflow run --model … </c>.</summary>
    public string CommandLine => string.Join(' ', Args.Prepend(Cli.Name).Select(ShellQuote));

    private static string ShellQuote(string a) =>
        a.Length > 0 && a.All(c => char.IsAsciiLetterOrDigit(c) || "-_./:=,@+%".Contains(c)) ? a : "'" + a.Replace("'", "'\\''") + "'";

    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>Writes exactly one JSON object to stdout.</summary>
    public void WriteJson<T>(T value) => Out.WriteLine(JsonSerializer.Serialize(value, Json));

    /// <summary>Runs a command body with the error policy: bad input → message on stderr, exit 2; anything else → exit 1.</summary>
    public int Guard(ParseResult parse, Func<int> body)
    {
        bool verbose = parse.GetValue(CommonOptions.Verbose);
        try
        {
            TorchRuntime.Initialize();
            return body();
        }
        catch (InputException e)
        {
            Err.WriteLine("error: " + e.Message);
            if (verbose) Err.WriteLine(e);
            return ExitBadInput;
        }
        catch (OperationCanceledException)
        {
            Err.WriteLine("cancelled");
            return ExitCancelled;
        }
        catch (Exception e)
        {
            Err.WriteLine($"error: {e.GetType().Name}: {e.Message}");
            Err.WriteLine(verbose ? e.ToString() : "(run with --verbose for details)");
            return ExitError;
        }
    }
}
