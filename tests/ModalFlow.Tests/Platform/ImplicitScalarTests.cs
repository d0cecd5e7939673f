using System.Reflection;
using System.Reflection.Emit;
using ModalFlow.Platform;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;

namespace ModalFlow.Tests.Platform;

/// <summary>
/// TorchSharp passes a Scalar's native handle to libtorch without keeping the managed object alive, so a Scalar that
/// only lives as a temporary can be finalized, and its native memory freed and reused, while libtorch still reads it
/// (<see cref="Scalars"/>). Shown on this machine: <c>x.square()</c> (TorchSharp's <c>pow(2)</c> with a temporary)
/// under a collecting thread failed with libtorch's "INTERNAL ASSERT FAILED at c10/core/Scalar.h" about once per 10⁵
/// calls, and a reused chunk can as well hold a valid but different number: a silently wrong result.
/// These tests read the IL of ModalFlow.dll and ModalFlow.Cli.dll: no method of ours may create a Scalar other than through
/// <see cref="Scalars"/>, nor call a TorchSharp member that creates one internally (found by reading its IL, transitively).
/// </summary>
public sealed class ImplicitScalarTests(ITestOutputHelper log)
{
    private static readonly Assembly[] Ours = [typeof(Scalars).Assembly, typeof(ModalFlow.Cli.Cli).Assembly];
    private static readonly Assembly Torch = typeof(torch).Assembly;

    [Fact]
    public void No_Method_Of_Ours_Creates_Or_Reaches_A_Temporary_Scalar()
    {
        var scanner = new ScalarScanner();
        var offenders = new List<string>();
        foreach (var method in Ours.SelectMany(AllMethods))
        {
            if (IsIn(method.DeclaringType, typeof(Scalars))) continue;               // the one rooted cache (and its lambda)
            foreach (var callee in Callees(method))
            {
                var path = scanner.PathToImplicitScalar(callee);
                if (path is not null) offenders.Add($"{Name(method)} → {path}");
            }
        }
        foreach (var o in offenders.Distinct()) log.WriteLine(o);
        Assert.True(offenders.Count == 0, "temporary Scalars (use Scalars.Of / Scalars.One):\n" + string.Join("\n", offenders.Distinct()));
    }

    [Fact]
    public void The_Scanner_Finds_The_Known_Temporaries()
    {
        // The check above can fail: these TorchSharp members are known to build a temporary Scalar internally.
        var scanner = new ScalarScanner();
        var square = typeof(torch.Tensor).GetMethod(nameof(torch.Tensor.square), Type.EmptyTypes)!;
        var addTensor = typeof(torch.Tensor).GetMethod(nameof(torch.Tensor.add), [typeof(torch.Tensor)])!;
        var normal = typeof(torch).GetMethods().First(m => m.Name == nameof(torch.normal) && m.GetParameters() is [{ ParameterType.Name: "Double" }, { ParameterType.Name: "Double" }, ..]);
        var powScalar = typeof(torch.Tensor).GetMethod(nameof(torch.Tensor.pow), [typeof(Scalar)])!;
        Assert.NotNull(scanner.PathToImplicitScalar(square));
        Assert.NotNull(scanner.PathToImplicitScalar(addTensor));
        Assert.NotNull(scanner.PathToImplicitScalar(normal));
        Assert.Null(scanner.PathToImplicitScalar(powScalar));                        // takes the caller's Scalar: fine with Scalars.Of
    }

    private static bool IsIn(Type? t, Type outer) => t is not null && (t == outer || IsIn(t.DeclaringType, outer));

    private static string Name(MethodBase m) => $"{m.DeclaringType?.FullName}.{m.Name}";

    private static IEnumerable<MethodBase> AllMethods(Assembly a)
    {
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        foreach (var t in a.GetTypes())
        {
            foreach (var m in t.GetMethods(all)) yield return m;
            foreach (var c in t.GetConstructors(all)) yield return c;
        }
    }

    /// <summary>Methods called (call, callvirt, newobj, ldftn) by <paramref name="method"/>'s IL.</summary>
    internal static IEnumerable<MethodBase> Callees(MethodBase method)
    {
        byte[]? il;
        try { il = method.GetMethodBody()?.GetILAsByteArray(); }
        catch (Exception) { yield break; }
        if (il is null) yield break;
        Type[]? typeArgs = method.DeclaringType is { IsGenericType: true } dt ? dt.GetGenericArguments() : null;
        Type[]? methodArgs = method.IsGenericMethod ? method.GetGenericArguments() : null;
        for (int i = 0; i < il.Length;)
        {
            var op = Il.Read(il, ref i);
            int size = Il.OperandSize(op, il, i);
            if (op.OperandType == OperandType.InlineMethod)
            {
                MethodBase? callee = null;
                try { callee = method.Module.ResolveMethod(BitConverter.ToInt32(il, i), typeArgs, methodArgs); }
                catch (Exception) { }
                if (callee is not null) yield return callee;
            }
            i += size;
        }
    }

    /// <summary>Whether a method builds a Scalar it does not hand back (transitively through TorchSharp's own code).</summary>
    private sealed class ScalarScanner
    {
        private readonly Dictionary<MethodBase, string?> _memo = new();

        public string? PathToImplicitScalar(MethodBase callee, int depth = 0)
        {
            if (IsScalarFactory(callee)) return $"{callee.DeclaringType?.Name}.{callee.Name}";
            if (callee.DeclaringType?.Assembly != Torch || depth > 4) return null;
            if (_memo.TryGetValue(callee, out var known)) return known;
            _memo[callee] = null;                                                     // cycles
            string? found = null;
            foreach (var inner in Callees(callee))
            {
                var p = PathToImplicitScalar(inner, depth + 1);
                if (p is null) continue;
                found = $"{callee.DeclaringType?.Name}.{callee.Name}({string.Join(", ", callee.GetParameters().Select(x => x.ParameterType.Name))}) → {p}";
                break;
            }
            return _memo[callee] = found;
        }

        /// <summary>A conversion of a .NET number to a new Scalar (implicit operator or ToScalar).</summary>
        private static bool IsScalarFactory(MethodBase m) =>
            m is MethodInfo { ReturnType: var r } && r == typeof(Scalar) && m.DeclaringType?.Assembly == Torch &&
            (m.Name == "op_Implicit" || m.Name == "ToScalar") && m.GetParameters() is [{ ParameterType: var p }] && p != typeof(torch.Tensor);
    }

    /// <summary>Just enough of an IL decoder to walk instructions.</summary>
    private static class Il
    {
        private static readonly Dictionary<short, OpCode> Codes = typeof(OpCodes).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Select(f => (OpCode)f.GetValue(null)!).ToDictionary(o => o.Value);

        public static OpCode Read(byte[] il, ref int i)
        {
            short v = il[i++];
            if (v == 0xFE) v = (short)(0xFE00 | il[i++]);
            return Codes[v];
        }

        public static int OperandSize(OpCode op, byte[] il, int at) => op.OperandType switch
        {
            OperandType.InlineNone => 0,
            OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar => 1,
            OperandType.InlineVar => 2,
            OperandType.InlineI8 or OperandType.InlineR => 8,
            OperandType.InlineSwitch => 4 + 4 * BitConverter.ToInt32(il, at),
            _ => 4,
        };
    }
}
