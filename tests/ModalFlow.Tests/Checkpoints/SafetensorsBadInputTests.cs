using ModalFlow.Checkpoints;
using ModalFlow.Platform;
using ModalFlow.Tests.Support;
using TorchSharp;
using Xunit;

namespace ModalFlow.Tests.Checkpoints;

/// <summary>
/// Every bad-input rule of the reader: each case writes a broken file (or folder), opens it, and checks that an
/// <see cref="InputException"/> names the file, the tensor/field and what was expected.
/// </summary>
public sealed class SafetensorsBadInputTests : IDisposable
{
    private readonly TempDir _dir = new();

    public SafetensorsBadInputTests() => TorchRuntime.Initialize();

    public void Dispose() => _dir.Dispose();

    /// <param name="Write">writes the input, returns (path to open, file the error must name)</param>
    /// <param name="Field">the field/tensor the error must name (null: none)</param>
    /// <param name="Expect">a fragment of the "expected …" wording</param>
    private sealed record Case(Func<TempDir, (string Open, string File)> Write, bool Checkpoint, string? Field, string Expect);

    private static string Entry(string dtype, string shape, string offsets) =>
        $$"""{"dtype":"{{dtype}}","shape":{{shape}},"data_offsets":{{offsets}}}""";

    /// <summary>A file with header <paramref name="header"/> and <paramref name="dataBytes"/> data bytes.</summary>
    private static Func<TempDir, (string, string)> Raw(string header, int dataBytes) => d =>
    {
        var p = SafetensorsTestWriter.WriteRaw(d.File("bad.safetensors"), header, new byte[dataBytes]);
        return (p, p);
    };

    private static (string, string) Same(string p) => (p, p);

    private static string Good(string path, params string[] names)
    {
        var w = new SafetensorsTestWriter();
        foreach (var n in names) w.Add(n, "F32", [2], new float[] { 1, 2 });
        return w.Write(path);
    }

    private static string Index(TempDir d, string json)
    {
        File.WriteAllText(d.File("model.safetensors.index.json"), json);
        return d.File("model.safetensors.index.json");
    }

    private static readonly Dictionary<string, Case> Cases = new()
    {
        // ---- framing -------------------------------------------------------------------------------------------
        ["file_not_found"] = new(d => Same(d.File("absent.safetensors")), false, null, "file not found; expected a .safetensors file"),
        ["checkpoint_path_not_found"] = new(d => Same(d.File("absent-folder")), true, null, "not found; expected a checkpoint folder"),
        ["file_shorter_than_8_bytes"] = new(d =>
        {
            File.WriteAllBytes(d.File("bad.safetensors"), [1, 2, 3, 4, 5]);
            return Same(d.File("bad.safetensors"));
        }, false, "header length", "expected at least 8"),
        ["header_length_past_end_of_file"] = new(d =>
            Same(SafetensorsTestWriter.WriteWithDeclaredLength(d.File("bad.safetensors"), 100, "{}      "u8.ToArray())),
            false, "header length", "reaches past the end of the 16-byte file; expected at most 8"),
        ["header_length_over_100MB_limit"] = new(d =>
            Same(SafetensorsTestWriter.WriteWithDeclaredLength(d.File("bad.safetensors"), 100_000_001, "{}      "u8.ToArray())),
            false, "header length", "exceeds the limit of 100000000 bytes"),
        ["header_not_utf8"] = new(d =>
            Same(SafetensorsTestWriter.WriteRaw(d.File("bad.safetensors"), [(byte)'{', (byte)'"', 0xFF, (byte)'"', (byte)':', (byte)'1', (byte)'}'], [])),
            false, "header", "not valid UTF-8"),
        ["header_not_json"] = new(Raw("""{"a": {"dtype": """, 0), false, "header", "expected a JSON object; the header is not valid JSON"),
        ["header_not_an_object"] = new(Raw("[1, 2]", 0), false, "header", "expected a JSON object mapping tensor names to entries, found a JSON array"),

        // ---- entry fields ---------------------------------------------------------------------------------------
        ["entry_not_an_object"] = new(Raw("""{"w": 5}""", 0), false, "w", "expected a JSON object {\"dtype\", \"shape\", \"data_offsets\"}, found a JSON number"),
        ["entry_missing_dtype"] = new(Raw("""{"w": {"shape": [2], "data_offsets": [0, 8]}}""", 8), false, "w", "missing \"dtype\"; expected a dtype string"),
        ["entry_missing_shape"] = new(Raw("""{"w": {"dtype": "F32", "data_offsets": [0, 8]}}""", 8), false, "w", "missing \"shape\"; expected an array of non-negative integers"),
        ["entry_missing_data_offsets"] = new(Raw("""{"w": {"dtype": "F32", "shape": [2]}}""", 8), false, "w", "missing \"data_offsets\"; expected [begin, end]"),
        ["entry_dtype_not_a_string"] = new(Raw("""{"w": {"dtype": 32, "shape": [2], "data_offsets": [0, 8]}}""", 8), false, "w", "\"dtype\" must be a string such as \"F32\", found a JSON number"),
        ["entry_shape_not_an_array"] = new(Raw("""{"w": {"dtype": "F32", "shape": "2", "data_offsets": [0, 8]}}""", 8), false, "w", "\"shape\" must be an array of non-negative integers, found a JSON string"),
        ["entry_shape_not_integers"] = new(Raw("""{"w": {"dtype": "F32", "shape": [2.5], "data_offsets": [0, 8]}}""", 8), false, "w", "\"shape\" must contain integers, found 2.5"),
        ["entry_offsets_not_a_pair"] = new(Raw("""{"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4, 8]}}""", 8), false, "w", "\"data_offsets\" must be an array of two integers [begin, end]"),
        ["entry_offsets_negative"] = new(Raw("""{"w": {"dtype": "F32", "shape": [2], "data_offsets": [-8, 0]}}""", 8), false, "w", "must be two non-negative integers"),
        ["entry_field_twice"] = new(Raw("""{"w": {"dtype": "F32", "dtype": "F16", "shape": [2], "data_offsets": [0, 8]}}""", 8), false, "w", "field \"dtype\" appears twice; expected it once"),
        ["unknown_dtype"] = new(Raw("{\"w\": " + Entry("F33", "[2]", "[0, 8]") + "}", 8), false, "w", "unknown dtype \"F33\"; expected one of F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL"),
        ["unsupported_dtype_F8_E4M3"] = new(Raw("{\"scale\": " + Entry("F8_E4M3", "[8]", "[0, 8]") + "}", 8), false, "scale", "dtype \"F8_E4M3\" is a safetensors type ModalFlow does not read; expected one of"),
        ["negative_dimension"] = new(Raw("{\"w\": " + Entry("F32", "[2, -2]", "[0, 8]") + "}", 8), false, "w", "negative dimension -2; expected dimensions ≥ 0"),
        ["shape_overflows_int64"] = new(Raw("{\"w\": " + Entry("F32", "[4294967296, 4294967296, 4]", "[0, 8]") + "}", 8), false, "w", "overflows a 64-bit byte count"),
        ["end_before_begin"] = new(Raw("{\"w\": " + Entry("F32", "[2]", "[8, 0]") + "}", 8), false, "w", "ends before it begins; expected begin ≤ end"),
        ["offsets_past_data_section"] = new(Raw("{\"w\": " + Entry("F32", "[4]", "[0, 16]") + "}", 8), false, "w", "reach past the end of the data section; expected end ≤ 8"),
        ["byte_size_differs_from_shape"] = new(Raw("{\"w\": " + Entry("F32", "[3]", "[0, 8]") + "}", 8), false, "w", "hold 8 bytes, but shape [3] of F32 needs 3 × 4 = 12 bytes"),
        ["duplicate_tensor_name"] = new(Raw("{\"w\": " + Entry("F32", "[2]", "[0, 8]") + ", \"w\": " + Entry("F32", "[2]", "[8, 16]") + "}", 16), false, "w", "appears twice in the header; expected unique names"),

        // ---- coverage of the data section ----------------------------------------------------------------------
        ["overlapping_ranges"] = new(Raw("{\"a\": " + Entry("F32", "[2]", "[0, 8]") + ", \"b\": " + Entry("F32", "[2]", "[4, 12]") + "}", 12), false, "b", "overlap tensor \"a\" at [0, 8); expected each tensor to start where the previous one ends"),
        ["gap_between_tensors"] = new(Raw("{\"a\": " + Entry("F32", "[2]", "[0, 8]") + ", \"b\": " + Entry("F32", "[2]", "[12, 20]") + "}", 20), false, "b", "leaving 4 unused bytes after tensor \"a\" (ends at 8); expected the tensors to cover the data section without gaps, so this one should start at 8"),
        ["first_tensor_not_at_zero"] = new(Raw("{\"a\": " + Entry("F32", "[2]", "[8, 16]") + "}", 16), false, "a", "this one should start at 0"),
        ["trailing_bytes_after_last_tensor"] = new(Raw("{\"a\": " + Entry("F32", "[2]", "[0, 8]") + "}", 12), false, "data_offsets", "expected the tensors to cover it exactly (4 trailing bytes)"),

        // ---- __metadata__ ----------------------------------------------------------------------------------------
        ["metadata_value_not_a_string"] = new(Raw("""{"__metadata__": {"format": 1}}""", 0), false, "__metadata__.format", "expected a string value, found a JSON number"),
        ["metadata_not_an_object"] = new(Raw("""{"__metadata__": "pt"}""", 0), false, "__metadata__", "expected a JSON object of string values"),
        ["metadata_twice"] = new(Raw("""{"__metadata__": {}, "__metadata__": {}}""", 0), false, "__metadata__", "expected at most one __metadata__ object"),

        // ---- sharded / folder checkpoints ------------------------------------------------------------------------
        ["index_not_json"] = new(d => Same(Index(d, """{"weight_map": {"a": """)), true, null, "expected a JSON object with \"weight_map\"; the file is not valid JSON"),
        ["index_not_an_object"] = new(d => Same(Index(d, "[]")), true, null, "expected a JSON object with \"weight_map\", found a JSON array"),
        ["index_missing_weight_map"] = new(d => Same(Index(d, """{"metadata": {"total_size": 8}}""")), true, "weight_map", "missing; expected an object mapping each tensor name to its shard file"),
        ["index_weight_map_value_not_a_string"] = new(d => Same(Index(d, """{"weight_map": {"a": 3}}""")), true, "a", "weight_map value must be a shard file name (string), found 3"),
        ["index_total_size_not_an_integer"] = new(d => Same(Index(d, """{"metadata": {"total_size": "8"}, "weight_map": {"a": "s1.safetensors"}}""")), true, "metadata.total_size", "expected a non-negative integer byte count"),
        ["index_tensor_listed_twice"] = new(d => Same(Index(d, """{"weight_map": {"a": "s1.safetensors", "a": "s2.safetensors"}}""")), true, "a", "tensor appears twice in weight_map; expected each tensor once"),
        ["index_shard_file_missing"] = new(d =>
        {
            Good(d.File("s1.safetensors"), "a");
            return Same(Index(d, """{"weight_map": {"a": "s1.safetensors", "b": "s2.safetensors", "c": "s2.safetensors"}}"""));
        }, true, "b", "needs shard file \"s2.safetensors\" (2 tensor(s) in weight_map), which does not exist at"),
        ["index_shard_outside_folder"] = new(d => Same(Index(d, """{"weight_map": {"a": "../elsewhere.safetensors"}}""")), true, "a", "which lies outside"),
        ["index_tensor_absent_from_its_shard"] = new(d =>
        {
            Good(d.File("s1.safetensors"), "a");
            return Same(Index(d, """{"weight_map": {"a": "s1.safetensors", "b": "s1.safetensors"}}"""));
        }, true, "b", "listed in weight_map under shard \"s1.safetensors\", but"),
        ["index_tensor_in_two_shards"] = new(d =>
        {
            Good(d.File("s1.safetensors"), "a");
            Good(d.File("s2.safetensors"), "a", "b");
            return Same(Index(d, """{"weight_map": {"a": "s1.safetensors", "b": "s2.safetensors"}}"""));
        }, true, "a", "tensor is present in two shards"),
        ["index_shard_tensor_not_listed"] = new(d =>
        {
            Good(d.File("s1.safetensors"), "a", "extra");
            return Same(Index(d, """{"weight_map": {"a": "s1.safetensors"}}"""));
        }, true, "extra", "not listed in weight_map; expected the index to list every tensor of its shards"),
        ["index_shard_with_bad_header_names_the_shard"] = new(d =>
        {
            Good(d.File("s1.safetensors"), "a");
            SafetensorsTestWriter.WriteRaw(d.File("s2.safetensors"), "{\"b\": " + Entry("F32", "[3]", "[0, 8]") + "}", new byte[8]);
            return (Index(d, """{"weight_map": {"a": "s1.safetensors", "b": "s2.safetensors"}}"""), d.File("s2.safetensors"));
        }, true, "b", "needs 3 × 4 = 12 bytes"),
        ["folder_tensor_in_two_files"] = new(d =>
        {
            var folder = d.Sub("ckpt");
            Good(Path.Combine(folder, "part-a.safetensors"), "a", "shared");
            Good(Path.Combine(folder, "part-b.safetensors"), "shared");
            return Same(folder);
        }, true, "shared", "expected each tensor in exactly one file"),
        ["folder_without_checkpoint"] = new(d => Same(d.Sub("empty")), true, null, "expected model.safetensors.index.json, model.safetensors or at least one *.safetensors file"),
    };

    public static TheoryData<string> CaseIds() => [.. Cases.Keys];

    [SharedTheory]
    [MemberData(nameof(CaseIds))]
    public void BadInput_Throws_InputException_Naming_File_Field_And_Expectation(string id)
    {
        var c = Cases[id];
        var (open, file) = c.Write(_dir);
        var ex = Assert.Throws<InputException>(() =>
        {
            if (c.Checkpoint) SafetensorsCheckpoint.Open(open).Dispose();
            else SafetensorsFile.Open(open).Dispose();
        });
        Assert.Equal(Path.GetFullPath(file), ex.File);
        Assert.Contains(Path.GetFileName(file), ex.Message);
        Assert.Equal(c.Field, ex.Field);
        if (c.Field != null) Assert.Contains(c.Field, ex.Message);
        Assert.Contains(c.Expect, ex.Message);
    }

    [SharedFact]
    public void Every_Rule_Has_A_Case()
    {
        Assert.True(Cases.Count >= 40, $"{Cases.Count} cases");
    }

    [SharedFact]
    public void Bool_Byte_Other_Than_0_Or_1_Is_Rejected_On_Load_Without_Leaking_Tensors()
    {
        var path = new SafetensorsTestWriter().Add("mask", "BOOL", [4], new byte[] { 1, 0, 2, 1 }).Write(_dir.File("mask.safetensors"));
        using var f = SafetensorsFile.Open(path);
        var before = torch.Tensor.TotalCount;
        var ex = Assert.Throws<InputException>(() => f.Load("mask", torch.ScalarType.Bool, torch.CPU));
        Assert.Equal(before, torch.Tensor.TotalCount);
        Assert.Equal("mask", ex.Field);
        Assert.Contains("mask.safetensors", ex.Message);
        Assert.Contains("BOOL element 2 is byte 0x02; expected 0 or 1", ex.Message);
    }

    [SharedFact]
    public void Lossy_Conversion_Is_Refused_Naming_File_And_Tensor()
    {
        var path = new SafetensorsTestWriter()
            .Add("w", "F32", [2], new float[] { 1.5f, 2 })
            .Add("ids", "I64", [1], new long[] { 1L << 40 })
            .Write(_dir.File("conv.safetensors"));
        using var f = SafetensorsFile.Open(path);
        var e1 = Assert.Throws<ArgumentException>(() => f.Load("w", torch.ScalarType.Int64, torch.CPU));
        Assert.Contains("conv.safetensors: w: stored as F32; loading it as Int64 would change its values", e1.Message);
        var e2 = Assert.Throws<ArgumentException>(() => f.Load("ids", torch.ScalarType.Int32, torch.CPU));
        Assert.Contains("ids: stored as I64", e2.Message);
    }

    [SharedFact]
    public void Unknown_Tensor_Name_Names_File_And_Tensor()
    {
        var path = Good(_dir.File("one.safetensors"), "a");
        using var f = SafetensorsFile.Open(path);
        var ex = Assert.Throws<InputException>(() => f.Info("nope"));
        Assert.Equal("nope", ex.Field);
        Assert.Contains("one.safetensors: nope: no such tensor", ex.Message);
        using var ck = SafetensorsCheckpoint.Open(path);
        var ex2 = Assert.Throws<InputException>(() => ck.Load("nope", torch.ScalarType.Float32, torch.CPU));
        Assert.Contains("one.safetensors: nope: no such tensor in the checkpoint", ex2.Message);
    }

    [SharedFact]
    public void Header_Errors_Do_Not_Leave_The_File_Open()
    {
        var path = SafetensorsTestWriter.WriteRaw(_dir.File("bad.safetensors"), "[]", []);
        Assert.Throws<InputException>(() => SafetensorsFile.Open(path));
        Assert.False(ProcFiles.Mentions(path), "file still open or mapped after a failed Open");
    }

    [SharedFact]
    public void Message_Text_Is_Readable()
    {
        // One full message, to keep the wording honest.
        var path = SafetensorsTestWriter.WriteRaw(_dir.File("m.safetensors"), "{\"w\": " + Entry("F32", "[3]", "[0, 8]") + "}", new byte[8]);
        var ex = Assert.Throws<InputException>(() => SafetensorsFile.Open(path));
        Assert.Equal(
            $"{path}: w: \"data_offsets\" [0, 8] hold 8 bytes, but shape [3] of F32 needs 3 × 4 = 12 bytes",
            ex.Message);
    }
}
