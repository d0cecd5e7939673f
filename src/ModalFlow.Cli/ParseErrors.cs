using System.CommandLine;
using System.CommandLine.Parsing;

namespace ModalFlow.Cli;

/// <summary>
/// Parse errors under the same contract as every other error: messages on stderr only (with "did you mean" where a
/// name was mistyped), then where to find the verb's options; nothing on stdout, exit 2. The messages are built from
/// the parse result's structure (which option, which token), not from System.CommandLine's wording.
/// </summary>
public static class ParseErrors
{
    public static int Report(ParseResult parse, TextWriter err)
    {
        foreach (var line in Messages(parse)) err.WriteLine("error: " + line);
        err.WriteLine($"See '{CommandPath(parse.CommandResult)} --help'.");
        return CliContext.ExitBadInput;
    }

    public static IReadOnlyList<string> Messages(ParseResult parse)
    {
        var command = parse.CommandResult.Command;
        var path = CommandPath(parse.CommandResult);
        var messages = new List<string>();
        var suggested = new HashSet<string>(StringComparer.Ordinal);
        var unmatched = parse.UnmatchedTokens;
        bool unknownCommand = false;
        for (int i = 0; i < unmatched.Count; i++)
        {
            var token = unmatched[i];
            if (token.StartsWith('-'))
            {
                var names = OptionNames(parse.CommandResult).ToList();
                var close = Suggest.Closest(token.Split('=')[0], names);
                suggested.UnionWith(close);
                messages.Add($"unknown option '{token}' for '{path}'{Hint(close)}");
                if (i + 1 < unmatched.Count && !unmatched[i + 1].StartsWith('-')) i++;   // its value, not a second mistake
            }
            else if (command.Subcommands.Count > 0)
            {
                unknownCommand = true;
                var verbs = command.Subcommands.Where(c => !c.Hidden).Select(c => c.Name).ToList();
                var close = Suggest.Closest(token, verbs);
                messages.Add($"unknown command '{token}' for '{path}'{Hint(close)}; the commands are: {string.Join(", ", verbs)}");
            }
            else messages.Add($"unexpected argument '{token}' for '{path}' (every value belongs to an option: --name VALUE)");
        }

        foreach (var e in parse.Errors)
        {
            switch (e.SymbolResult)
            {
                case CommandResult:
                    if (unmatched.Any(t => e.Message.Contains($"'{t}'", StringComparison.Ordinal))) break;   // reported above
                    if (command.Subcommands.Count > 0 && command.Action is null)
                    {
                        if (!unknownCommand)
                            messages.Add($"'{path}' needs a command: {string.Join(", ", command.Subcommands.Where(c => !c.Hidden).Select(c => c.Name))}");
                        break;
                    }
                    messages.Add(e.Message);
                    break;
                case OptionResult o when o.IdentifierToken is null && o.Option.Required:
                    if (!suggested.Overlaps(o.Option.Aliases.Prepend(o.Option.Name)))
                        messages.Add($"missing required option {o.Option.Name} {Placeholder(o.Option)}");
                    break;
                case OptionResult o when o.Tokens.Count == 0 && o.Option.Arity.MinimumNumberOfValues > 0:
                    messages.Add($"option {o.Option.Name} needs a value {Placeholder(o.Option)}");
                    break;
                case ArgumentResult a when a.Tokens.Count == 0 && a.Argument.Arity.MinimumNumberOfValues > 0:
                    messages.Add($"'{path}' needs {a.Argument.HelpName ?? a.Argument.Name.ToUpperInvariant()}...: {a.Argument.Description}");
                    break;
                default:
                    messages.Add(e.Message);
                    break;
            }
        }
        return messages.Distinct(StringComparer.Ordinal).ToList();
    }

    /// <summary>"modalflow toy train": the command's path from the root.</summary>
    public static string CommandPath(CommandResult result)
    {
        var names = new List<string>();
        for (SymbolResult? r = result; r is not null; r = r.Parent)
            if (r is CommandResult c) names.Add(c.Command.Name);
        names.Reverse();
        return string.Join(' ', names);
    }

    /// <summary>The options a command accepts: its own and the recursive ones of the commands above it.</summary>
    private static IEnumerable<string> OptionNames(CommandResult result)
    {
        for (SymbolResult? r = result; r is not null; r = r.Parent)
            if (r is CommandResult c)
                foreach (var o in c.Command.Options.Where(o => ReferenceEquals(r, result) || o.Recursive))
                    foreach (var n in o.Aliases.Prepend(o.Name).Where(n => n.StartsWith("--", StringComparison.Ordinal)))
                        yield return n;
    }

    private static string Placeholder(Option o) => o.HelpName is { Length: > 0 } h ? h : "VALUE";

    private static string Hint(IReadOnlyList<string> close) =>
        close.Count == 0 ? "" : $" (did you mean {string.Join(" or ", close.Select(x => $"'{x}'"))}?)";
}
