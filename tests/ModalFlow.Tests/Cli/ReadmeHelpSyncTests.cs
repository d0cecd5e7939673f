using System.CommandLine;
using System.Text.RegularExpressions;
using ModalFlow.Tests.Support;
using Xunit;

namespace ModalFlow.Tests.Cli;

/// <summary>
/// README.md's command table and `modalflow VERB --help` say the same thing: every option the README gives a verb
/// exists in its help, every option in the help is in the README (a verb's row, or the model-folder options line for
/// the verbs it names), and where the README lists an option's values (`a|b|c`) they are the values help accepts.
/// </summary>
public partial class ReadmeHelpSyncTests
{
    private static readonly string[] Everywhere = ["--help", "--verbose"];

    private static string RepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "ModalFlow.slnx"))) return d.FullName;
        throw new DirectoryNotFoundException("repository root");
    }

    /// <summary>Every verb that runs something (a command without subcommands), as its words after `modalflow`.</summary>
    private static List<string> Verbs()
    {
        var root = ModalFlow.Cli.Cli.Build(new ModalFlow.Cli.CliContext(TextWriter.Null, TextWriter.Null));
        var verbs = new List<string>();
        void Walk(Command c, string path)
        {
            if (c.Subcommands.Count == 0) verbs.Add(path);
            foreach (var s in c.Subcommands) Walk(s, (path + " " + s.Name).Trim());
        }
        Walk(root, "");
        return verbs;
    }

    /// <summary>Option name → its values when help shows them as &lt;a|b|c&gt; (else empty).</summary>
    private static Dictionary<string, string[]> HelpOptions(string verb)
    {
        var (code, stdout, stderr) = CliTests.Run([.. verb.Split(' '), "--help"]);
        Assert.True(code == 0, stderr);
        var options = new Dictionary<string, string[]>(StringComparer.Ordinal);
        foreach (Match m in HelpOption().Matches(stdout))
        {
            var values = m.Groups[2].Success && m.Groups[2].Value.Contains('|') ? m.Groups[2].Value.Split('|') : [];
            options[m.Groups[1].Value] = values;
        }
        return options;
    }

    private static Dictionary<string, string[]> ReadmeOptions(string text)
    {
        var options = new Dictionary<string, string[]>(StringComparer.Ordinal);
        foreach (Match m in ReadmeOption().Matches(text.Replace("\\|", "|")))
        {
            var v = m.Groups[2].Value;
            options[m.Groups[1].Value] = v.Contains('|') ? v.Split('|') : options.GetValueOrDefault(m.Groups[1].Value, []);
        }
        return options;
    }

    [SharedFact]
    public void Readme_Command_Table_And_Help_List_The_Same_Options_And_Values()
    {
        var readme = File.ReadAllLines(Path.Combine(RepoRoot(), "README.md"));
        var rows = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in readme.Where(l => l.StartsWith("| `modalflow ", StringComparison.Ordinal)))
        {
            var cell = line.Split(" | ")[0];
            var verb = string.Join(' ', cell["| `modalflow ".Length..].Split(' ').TakeWhile(w => Regex.IsMatch(w, "^[a-z]+$")));
            rows[verb] = cell;
        }
        var groupLine = Assert.Single(readme, l => l.StartsWith("**Model-folder options** of ", StringComparison.Ordinal));
        var colon = groupLine.IndexOf(':', StringComparison.Ordinal);
        var groupVerbs = Regex.Matches(groupLine[..colon], "`([a-z ]+)`").Select(m => m.Groups[1].Value).ToHashSet();
        var group = ReadmeOptions(groupLine[colon..]);
        Assert.Equal(ModalFlow.Cli.CommonOptions.ModelFolder.Select(o => o.Name).Order(), group.Keys.Order());

        var problems = new List<string>();
        foreach (var verb in Verbs())
        {
            if (!rows.TryGetValue(verb, out var row)) { problems.Add($"README has no row for `modalflow {verb}`"); continue; }
            var help = HelpOptions(verb);
            var documented = ReadmeOptions(row);
            bool inGroup = groupVerbs.Contains(verb);
            if (inGroup) foreach (var (k, v) in group) documented.TryAdd(k, v);
            if (inGroup != ModalFlow.Cli.CommonOptions.ModelFolder.All(o => help.ContainsKey(o.Name)))
                problems.Add($"{verb}: the model-folder options line {(inGroup ? "names" : "omits")} it, its help {(inGroup ? "lacks" : "has")} them");
            foreach (var (name, values) in documented)
            {
                if (!help.TryGetValue(name, out var accepted)) { problems.Add($"{verb}: README gives {name}, help does not"); continue; }
                if (values.Length > 0 && !values.Order().SequenceEqual(accepted.Order()))
                    problems.Add($"{verb}: README gives {name} {string.Join('|', values)}, help accepts {string.Join('|', accepted)}");
            }
            foreach (var name in help.Keys.Except(Everywhere).Where(n => !documented.ContainsKey(n)))
                problems.Add($"{verb}: help has {name}, the README row does not");
        }
        foreach (var verb in rows.Keys.Except(Verbs())) problems.Add($"README has a row for `modalflow {verb}`, which is no command");
        Assert.True(problems.Count == 0, "README.md and --help disagree:\n" + string.Join('\n', problems));
    }

    [SharedFact]
    public void Readme_Names_The_Files_A_Run_Writes_And_The_Image_Formats_Run_Reads()
    {
        var readme = File.ReadAllText(Path.Combine(RepoRoot(), "README.md"));
        Assert.Contains("`knockout_first.csv`", readme);
        Assert.DoesNotContain("`knockout.csv`", readme);
        var (_, runHelp, _) = CliTests.Run("run", "--help");
        Assert.Contains("<img_id>.png", runHelp);
        Assert.Contains("<img_id>.png", readme);
        // The --image-mode default in the README is the one help shows.
        var (_, predictHelp, _) = CliTests.Run("predict", "--help");
        var helpDefault = Regex.Match(predictHelp, @"--image-mode <[^>]+>[^\n]*\[default: (\w+)\]").Groups[1].Value;
        Assert.Equal("auto", helpDefault);
        Assert.Matches($@"`--image-mode {helpDefault}` \(default", readme);
    }

    [GeneratedRegex(@"^\s+(?:-\S+, )*(--[a-z][a-z0-9-]*)(?: <([^>]+)>)?", RegexOptions.Multiline)]
    private static partial Regex HelpOption();

    [GeneratedRegex(@"(--[a-z][a-z0-9-]*)(?:[ =]([A-Za-z0-9_./:'<>+-]+(?:\|[A-Za-z0-9_./:'<>+-]+)*))?")]
    private static partial Regex ReadmeOption();
}
