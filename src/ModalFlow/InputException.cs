namespace ModalFlow;

/// <summary>
/// Bad input from the user's side (a file, a config field, an image, a prompt). The message always names the
/// file, the field and what was expected, so the CLI can print it as is, without a stack trace.
/// </summary>
public class InputException : Exception
{
    /// <summary>The file (or folder) the problem is in, when there is one.</summary>
    public string? File { get; }

    /// <summary>The field, tensor name, JSON key, CSV column or option at fault, when there is one.</summary>
    public string? Field { get; }

    public InputException(string? file, string? field, string problem, Exception? inner = null)
        : base(Format(file, field, problem), inner)
    {
        File = file;
        Field = field;
    }

    private static string Format(string? file, string? field, string problem)
    {
        var where = (file, field) switch
        {
            (not null, not null) => $"{file}: {field}: ",
            (not null, null) => $"{file}: ",
            (null, not null) => $"{field}: ",
            _ => "",
        };
        return where + problem;
    }
}
