using System.Buffers.Binary;
using System.Text;

namespace ModalFlow.Checkpoints;

/// <summary>One tensor of a torch.save archive as <c>_rebuild_tensor_v2</c> describes it: a view of a storage.</summary>
/// <param name="StorageKey">The storage's record name (<c>&lt;archive&gt;/data/&lt;key&gt;</c>).</param>
/// <param name="DType">Element type, from the storage class (<c>torch.HalfStorage</c> → F16).</param>
/// <param name="StorageElements">Elements in the storage (the persistent id's numel).</param>
/// <param name="Offset">First element of the view in the storage.</param>
public sealed record TorchTensorRecord(string StorageKey, TensorDType DType, long StorageElements, long Offset,
    IReadOnlyList<long> Shape, IReadOnlyList<long> Stride)
{
    /// <summary>Elements of the view (checked: a record whose sizes overflow throws <see cref="OverflowException"/>).</summary>
    public long ElementCount => Shape.Aggregate(1L, (a, b) => checked(a * b));

    /// <summary>Elements from <see cref="Offset"/> to the view's last element, inclusive (0 for an empty tensor); checked.</summary>
    public long Extent => ElementCount == 0 ? 0 : checked(1 + Shape.Zip(Stride).Sum(p => checked((p.First - 1) * p.Second)));

    /// <summary>Row-major strides of <see cref="Shape"/> (what a contiguous view has).</summary>
    public bool IsContiguous
    {
        get
        {
            long expected = 1;
            for (int i = Shape.Count - 1; i >= 0; i--)
            {
                if (Shape[i] != 1 && Stride[i] != expected) return false;
                expected *= Shape[i];
            }
            return true;
        }
    }
}

/// <summary>
/// A deliberately tiny unpickler for the <c>data.pkl</c> record of a <c>torch.save</c> zip archive (what
/// <c>pytorch_model.bin</c> files are). It builds data, never calls anything: only the opcodes torch.save emits
/// (protocols 2–5) are implemented, only these globals may appear — <c>collections.OrderedDict</c>,
/// <c>torch._utils._rebuild_tensor_v2</c>, <c>torch._utils._rebuild_parameter</c> and the typed storage classes
/// <c>torch.*Storage</c> (as persistent-id tags) — and REDUCE is allowed only on the first three, BUILD only on a
/// dict. Everything else (os.system, builtins.eval, INST/OBJ/NEWOBJ, lists, …) is an <see cref="InputException"/>
/// naming the file and the opcode or global. The result must be a dict of tensor name → tensor.
/// </summary>
internal sealed class TorchPickle
{
    private static readonly Dictionary<string, TensorDType> StorageTypes = new(StringComparer.Ordinal)
    {
        ["FloatStorage"] = TensorDType.F32,
        ["HalfStorage"] = TensorDType.F16,
        ["BFloat16Storage"] = TensorDType.BF16,
        ["DoubleStorage"] = TensorDType.F64,
        ["LongStorage"] = TensorDType.I64,
        ["IntStorage"] = TensorDType.I32,
        ["ShortStorage"] = TensorDType.I16,
        ["CharStorage"] = TensorDType.I8,
        ["ByteStorage"] = TensorDType.U8,
        ["BoolStorage"] = TensorDType.BOOL,
    };

    private const string Expected = "expected only torch.save tensor records (collections.OrderedDict, torch._utils._rebuild_tensor_v2, " +
        "torch._utils._rebuild_parameter, torch.*Storage)";

    private sealed class Mark
    {
        public static readonly Mark Instance = new();
    }

    /// <summary>An allow-listed global: a callable (OrderedDict, rebuild functions) or a storage type tag.</summary>
    private sealed record Global(string Module, string Name)
    {
        public override string ToString() => $"{Module}.{Name}";
    }

    /// <summary>dict / OrderedDict; keys are strings (state dicts and their _metadata).</summary>
    private sealed class PickleDict
    {
        public readonly List<KeyValuePair<object?, object?>> Items = [];
    }

    private sealed record Storage(string Key, TensorDType DType, long Elements);

    private readonly string _file;
    private readonly byte[] _data;
    private int _pos;
    private readonly List<object?> _stack = [];
    private readonly Dictionary<long, object?> _memo = [];
    private readonly Dictionary<string, Storage> _storages = new(StringComparer.Ordinal);

    private TorchPickle(string file, byte[] data)
    {
        _file = file;
        _data = data;
    }

    /// <summary>Parses <paramref name="data"/> (the bytes of data.pkl) into tensor name → record, in file order.</summary>
    public static IReadOnlyList<KeyValuePair<string, TorchTensorRecord>> Read(string file, byte[] data)
    {
        var p = new TorchPickle(file, data);
        var result = p.Run();
        if (result is not PickleDict dict)
            throw new InputException(file, "data.pkl", $"holds {Describe(result)}; expected a dict of tensor name → tensor (a state dict)");
        var list = new List<KeyValuePair<string, TorchTensorRecord>>(dict.Items.Count);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (k, v) in dict.Items)
        {
            if (k is not string name)
                throw new InputException(file, "data.pkl", $"has a key {Describe(k)}; expected tensor names (strings)");
            if (v is not TorchTensorRecord t)
                throw new InputException(file, name, $"holds {Describe(v)}; expected a tensor (a state dict of tensors only)");
            if (!seen.Add(name)) throw new InputException(file, name, "appears twice in the state dict");
            list.Add(new(name, t));
        }
        return list;
    }

    private static string Describe(object? o) => o switch
    {
        null => "None",
        string s => $"the string '{(s.Length > 40 ? s[..40] + "…" : s)}'",
        long l => $"the integer {l}",
        bool b => b ? "True" : "False",
        object?[] t => $"a {t.Length}-tuple",
        PickleDict => "a dict",
        TorchTensorRecord => "a tensor",
        Storage => "a storage",
        Global g => $"the global {g}",
        _ => o.GetType().Name,
    };

    private InputException Bad(string problem) => new(_file, "data.pkl", problem);

    private InputException BadOpcode(byte op, int at) =>
        Bad($"pickle opcode 0x{op:X2}{(OpcodeNames.TryGetValue(op, out var n) ? $" ({n})" : "")} at byte {at} is not allowed; {Expected}");

    /// <summary>Names of opcodes this reader refuses, for the message (pickle.py's names).</summary>
    private static readonly Dictionary<byte, string> OpcodeNames = new()
    {
        [(byte)'i'] = "INST", [(byte)'o'] = "OBJ", [0x81] = "NEWOBJ", [0x92] = "NEWOBJ_EX", [(byte)']'] = "EMPTY_LIST",
        [(byte)'l'] = "LIST", [(byte)'a'] = "APPEND", [(byte)'e'] = "APPENDS", [(byte)'d'] = "DICT", [(byte)'I'] = "INT",
        [(byte)'L'] = "LONG", [(byte)'F'] = "FLOAT", [(byte)'G'] = "BINFLOAT", [(byte)'S'] = "STRING", [(byte)'T'] = "BINSTRING",
        [(byte)'U'] = "SHORT_BINSTRING", [(byte)'V'] = "UNICODE", [(byte)'P'] = "PERSID", [(byte)'p'] = "PUT", [(byte)'g'] = "GET",
        [0x82] = "EXT1", [0x83] = "EXT2", [0x84] = "EXT4", [(byte)'B'] = "BINBYTES", [(byte)'C'] = "SHORT_BINBYTES",
        [0x8e] = "BINBYTES8", [0x96] = "BYTEARRAY8", [0x97] = "NEXT_BUFFER", [0x98] = "READONLY_BUFFER", [0x8f] = "EMPTY_SET",
        [0x90] = "ADDITEMS", [0x91] = "FROZENSET", [(byte)'0'] = "POP", [(byte)'1'] = "POP_MARK", [(byte)'2'] = "DUP",
        [0x8b] = "LONG4",
    };

    private object? Run()
    {
        while (true)
        {
            int at = _pos;
            byte op = U8();
            switch (op)
            {
                case 0x80: // PROTO
                    {
                        int proto = U8();
                        if (proto is < 2 or > 5) throw Bad($"pickle protocol {proto} is not supported; expected 2..5 (torch.save writes 2)");
                        break;
                    }
                case 0x95: // FRAME: a length hint only
                    Take(8);
                    break;
                case (byte)'.': // STOP
                    if (_stack.Count != 1) throw Bad($"STOP at byte {at} with {_stack.Count} objects on the stack; expected exactly one");
                    return _stack[0];
                case (byte)'}': // EMPTY_DICT
                    Push(new PickleDict());
                    break;
                case (byte)')': // EMPTY_TUPLE
                    Push(Array.Empty<object?>());
                    break;
                case 0x85: // TUPLE1
                case 0x86: // TUPLE2
                case 0x87: // TUPLE3
                    {
                        int n = op - 0x84;
                        var items = new object?[n];
                        for (int i = n - 1; i >= 0; i--) items[i] = Pop(at);
                        Push(items);
                        break;
                    }
                case (byte)'t': // TUPLE
                    Push(PopToMark(at).ToArray());
                    break;
                case (byte)'(': // MARK
                    Push(Mark.Instance);
                    break;
                case (byte)'X': // BINUNICODE
                    Push(Utf8(checked((int)U32()), at));
                    break;
                case 0x8c: // SHORT_BINUNICODE
                    Push(Utf8(U8(), at));
                    break;
                case 0x8d: // BINUNICODE8
                    {
                        ulong n = U64();
                        if (n > int.MaxValue) throw Bad($"string of {n} bytes at byte {at}");
                        Push(Utf8((int)n, at));
                        break;
                    }
                case (byte)'J': // BININT
                    Push((long)BinaryPrimitives.ReadInt32LittleEndian(Take(4)));
                    break;
                case (byte)'K': // BININT1
                    Push((long)U8());
                    break;
                case (byte)'M': // BININT2
                    Push((long)BinaryPrimitives.ReadUInt16LittleEndian(Take(2)));
                    break;
                case 0x8a: // LONG1: little-endian two's complement, n bytes
                    {
                        int n = U8();
                        if (n > 8) throw Bad($"integer of {n} bytes at byte {at}; expected at most 8 (a tensor size or offset)");
                        var b = Take(n);
                        long v = 0;
                        for (int i = n - 1; i >= 0; i--) v = (v << 8) | b[i];
                        if (n is > 0 and < 8 && (b[n - 1] & 0x80) != 0) v -= 1L << (8 * n);
                        Push(v);
                        break;
                    }
                case 0x88: // NEWTRUE
                    Push(true);
                    break;
                case 0x89: // NEWFALSE
                    Push(false);
                    break;
                case (byte)'N': // NONE
                    Push(null);
                    break;
                case (byte)'c': // GLOBAL "module\nname\n"
                    {
                        var module = Line(at);
                        var name = Line(at);
                        Push(Allow(module, name, at));
                        break;
                    }
                case 0x93: // STACK_GLOBAL
                    {
                        var name = Pop(at);
                        var module = Pop(at);
                        if (module is not string m || name is not string n)
                            throw Bad($"STACK_GLOBAL at byte {at} needs two strings, got {Describe(module)} and {Describe(name)}");
                        Push(Allow(m, n, at));
                        break;
                    }
                case (byte)'Q': // BINPERSID: a storage reference
                    Push(PersistentLoad(Pop(at), at));
                    break;
                case (byte)'R': // REDUCE
                    {
                        var args = Pop(at);
                        var callable = Pop(at);
                        Push(Reduce(callable, args, at));
                        break;
                    }
                case (byte)'s': // SETITEM
                    {
                        var value = Pop(at);
                        var key = Pop(at);
                        DictAt(at).Items.Add(new(key, value));
                        break;
                    }
                case (byte)'u': // SETITEMS
                    {
                        var items = PopToMark(at);
                        if (items.Count % 2 != 0) throw Bad($"SETITEMS at byte {at} with an odd number ({items.Count}) of keys and values");
                        var dict = DictAt(at);
                        for (int i = 0; i < items.Count; i += 2) dict.Items.Add(new(items[i], items[i + 1]));
                        break;
                    }
                case (byte)'b': // BUILD: only an OrderedDict's __dict__ (state_dict()._metadata), which is dropped
                    {
                        var state = Pop(at);
                        if (Peek(at) is not PickleDict)
                            throw Bad($"BUILD at byte {at} on {Describe(Peek(at))} is not allowed; {Expected}");
                        if (state is not (null or PickleDict))
                            throw Bad($"BUILD at byte {at} with state {Describe(state)}; expected a dict (an OrderedDict's attributes)");
                        break;
                    }
                case (byte)'q': // BINPUT
                    _memo[U8()] = Peek(at);
                    break;
                case (byte)'r': // LONG_BINPUT
                    _memo[U32()] = Peek(at);
                    break;
                case 0x94: // MEMOIZE
                    _memo[_memo.Count] = Peek(at);
                    break;
                case (byte)'h': // BINGET
                    Push(Get(U8(), at));
                    break;
                case (byte)'j': // LONG_BINGET
                    Push(Get(U32(), at));
                    break;
                default:
                    throw BadOpcode(op, at);
            }
        }
    }

    private static Global? AllowedGlobal(string module, string name) => (module, name) switch
    {
        ("collections", "OrderedDict") => new Global(module, name),
        ("torch._utils", "_rebuild_tensor_v2" or "_rebuild_parameter") => new Global(module, name),
        ("torch", _) when StorageTypes.ContainsKey(name) => new Global(module, name),
        _ => null,
    };

    private Global Allow(string module, string name, int at) => AllowedGlobal(module, name)
        ?? throw Bad($"pickle global '{module}.{name}' (byte {at}) is not allowed; {Expected}");

    private Storage PersistentLoad(object? pid, int at)
    {
        // torch.serialization: ('storage', storage_type, key, location, numel)
        if (pid is not object?[] { Length: 5 } t || t[0] is not "storage")
            throw Bad($"persistent id at byte {at} is {Describe(pid)}; expected ('storage', torch.<Type>Storage, key, location, numel)");
        if (t[1] is not Global { Module: "torch" } g || !StorageTypes.TryGetValue(g.Name, out var dtype))
            throw Bad($"persistent id at byte {at} names storage type {Describe(t[1])}; expected one of torch.{string.Join("/", StorageTypes.Keys)}");
        if (t[2] is not string key || key.Length == 0 || key.Contains('/') || key.Contains('\\') || key.Contains(".."))
            throw Bad($"persistent id at byte {at} has storage key {Describe(t[2])}; expected a record name such as \"0\"");
        if (t[3] is not string)
            throw Bad($"persistent id at byte {at} has location {Describe(t[3])}; expected a device string such as \"cpu\"");
        if (t[4] is not long numel || numel < 0)
            throw Bad($"persistent id at byte {at} has element count {Describe(t[4])}; expected a non-negative integer");
        if (_storages.TryGetValue(key, out var known))
        {
            if (known.DType != dtype || known.Elements != numel)
                throw Bad($"storage '{key}' is referenced as {known.DType}×{known.Elements} and as {dtype}×{numel}; expected one type and size per storage");
            return known;
        }
        var s = new Storage(key, dtype, numel);
        _storages.Add(key, s);
        return s;
    }

    private object? Reduce(object? callable, object? args, int at)
    {
        if (callable is not Global g)
            throw Bad($"REDUCE at byte {at} calls {Describe(callable)}; {Expected}");
        if (args is not object?[] a)
            throw Bad($"REDUCE at byte {at} on {g} with arguments {Describe(args)}; expected a tuple");
        switch (g.Module, g.Name)
        {
            case ("collections", "OrderedDict"):
                if (a.Length != 0) throw Bad($"OrderedDict at byte {at} with {a.Length} argument(s); expected OrderedDict()");
                return new PickleDict();
            case ("torch._utils", "_rebuild_tensor_v2"):
                return RebuildTensor(a, at);
            case ("torch._utils", "_rebuild_parameter"):
                // (data, requires_grad, backward_hooks): a Parameter is its data here.
                if (a.Length != 3 || a[0] is not TorchTensorRecord data || a[1] is not bool || !IsEmptyHooks(a[2]))
                    throw Bad($"_rebuild_parameter at byte {at} with ({string.Join(", ", a.Select(Describe))}); expected (tensor, requires_grad, OrderedDict())");
                return data;
            default:
                throw Bad($"REDUCE at byte {at} calls {g}, which is a storage type, not a function; {Expected}");
        }
    }

    private static bool IsEmptyHooks(object? o) => o is PickleDict { Items.Count: 0 };

    private TorchTensorRecord RebuildTensor(object?[] a, int at)
    {
        // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
        string Args() => $"({string.Join(", ", a.Select(Describe))})";
        if (a.Length is not (6 or 7) || a[0] is not Storage s || a[1] is not long offset || a[2] is not object?[] size
            || a[3] is not object?[] stride || a[4] is not bool || !IsEmptyHooks(a[5]))
            throw Bad($"_rebuild_tensor_v2 at byte {at} with {Args()}; expected (storage, offset, size tuple, stride tuple, requires_grad, OrderedDict())");
        if (a.Length == 7 && a[6] is not (null or PickleDict { Items.Count: 0 }))
            throw Bad($"_rebuild_tensor_v2 at byte {at} with tensor metadata {Describe(a[6])}; expected none (plain tensors)");
        if (size.Length != stride.Length || size.Length > 64 || size.Any(x => x is not long v || v < 0) || stride.Any(x => x is not long v || v < 0))
            throw Bad($"_rebuild_tensor_v2 at byte {at}: size {Describe(size)} and stride {Describe(stride)} must be tuples of non-negative integers of one length (at most 64 dimensions)");
        if (offset < 0) throw Bad($"_rebuild_tensor_v2 at byte {at}: storage offset {offset} is negative");
        return new TorchTensorRecord(s.Key, s.DType, s.Elements, offset, size.Select(x => (long)x!).ToArray(), stride.Select(x => (long)x!).ToArray());
    }

    // ---- stack, memo, bytes --------------------------------------------------------------------------------------

    private void Push(object? o) => _stack.Add(o);

    private object? Pop(int at)
    {
        if (_stack.Count == 0 || _stack[^1] is Mark) throw Bad($"pickle stack underflow at byte {at}");
        var o = _stack[^1];
        _stack.RemoveAt(_stack.Count - 1);
        return o;
    }

    private object? Peek(int at) =>
        _stack.Count == 0 || _stack[^1] is Mark ? throw Bad($"pickle stack underflow at byte {at}") : _stack[^1];

    private List<object?> PopToMark(int at)
    {
        int m = _stack.FindLastIndex(o => o is Mark);
        if (m < 0) throw Bad($"no MARK before byte {at}");
        var items = _stack.GetRange(m + 1, _stack.Count - m - 1);
        _stack.RemoveRange(m, _stack.Count - m);
        return items;
    }

    private PickleDict DictAt(int at) => Peek(at) as PickleDict
        ?? throw Bad($"SETITEM(S) at byte {at} on {Describe(Peek(at))}; expected a dict");

    private object? Get(long key, int at) =>
        _memo.TryGetValue(key, out var o) ? o : throw Bad($"memo entry {key} read at byte {at} was never stored");

    private ReadOnlySpan<byte> Take(int n)
    {
        if (n < 0 || _pos + (long)n > _data.Length)
            throw Bad($"ends at byte {_data.Length} in the middle of an opcode (needed {n} more bytes at byte {_pos}); the record is truncated");
        var span = _data.AsSpan(_pos, n);
        _pos += n;
        return span;
    }

    private byte U8() => Take(1)[0];
    private uint U32() => BinaryPrimitives.ReadUInt32LittleEndian(Take(4));
    private ulong U64() => BinaryPrimitives.ReadUInt64LittleEndian(Take(8));

    private string Utf8(int n, int at)
    {
        try { return new UTF8Encoding(false, true).GetString(Take(n)); }
        catch (DecoderFallbackException e) { throw new InputException(_file, "data.pkl", $"string at byte {at} is not valid UTF-8", e); }
    }

    private string Line(int at)
    {
        int end = Array.IndexOf(_data, (byte)'\n', _pos);
        if (end < 0 || end - _pos > 256) throw Bad($"GLOBAL at byte {at} has no name line; the record is truncated or corrupt");
        var s = Encoding.ASCII.GetString(_data, _pos, end - _pos);
        _pos = end + 1;
        return s;
    }
}
