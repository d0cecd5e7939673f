using System.Reflection;

namespace ModalFlow.Platform;

/// <summary>The library's version with the git commit it was built from (set by the build; see Directory.Build.targets).</summary>
public static class CodeVersion
{
    public static string Current { get; } =
        typeof(CodeVersion).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";
}
