using System.Collections.Immutable;
using System.Text.Json;
using System.Text.Unicode;

namespace ModalFlow.Checkpoints;

/// <summary>
/// Parses and validates the JSON header of a safetensors file. The rules follow the reference implementation
/// (huggingface/safetensors, safetensors/src/tensor.rs: <c>read_metadata</c> and <c>Metadata::validate</c>):
/// UTF-8 JSON object; <c>__metadata__</c> optional, a string → string map; every other key a tensor with
/// <c>dtype</c> (string), <c>shape</c> (non-negative integers) and <c>data_offsets</c> ([begin, end], non-negative
/// integers, begin ≤ end); byte length = elements × element size; and, sorted by offsets, the tensors cover the data
/// section exactly: the first starts at 0, each starts where the previous ends (no gap, no overlap), the last ends at
/// the end of the file. In addition (the reference silently keeps one of them) a key given twice is an error.
/// Unknown fields inside a tensor entry are ignored, as in the reference.
/// </summary>
internal static class SafetensorsHeader
{
    /// <summary>The reference's MAX_HEADER_SIZE (100,000,000 bytes).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    public const string MetadataKey = "__metadata__";

    public sealed record Parsed(
        IReadOnlyDictionary<string, TensorInfo> Tensors,
        IReadOnlyList<TensorInfo> ByOffset,
        IReadOnlyDictionary<string, string> Metadata);

    /// <param name="file">for messages</param>
    /// <param name="header">the N header bytes</param>
    /// <param name="dataLength">bytes after the header (file length − 8 − N)</param>
    public static Parsed Parse(string file, ReadOnlySpan<byte> header, long dataLength)
    {
        if (!Utf8.IsValid(header))
        {
            throw new InputException(file, "header", "the JSON header is not valid UTF-8");
        }

        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(header.ToArray(), new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException e)
        {
            throw new InputException(file, "header", $"expected a JSON object; the header is not valid JSON ({e.Message})", e);
        }

        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new InputException(file, "header", $"expected a JSON object mapping tensor names to entries, found a JSON {Kind(root)}");
            }

            var tensors = new Dictionary<string, TensorInfo>(StringComparer.Ordinal);
            IReadOnlyDictionary<string, string>? metadata = null;
            foreach (var prop in root.EnumerateObject())
            {
                if (prop.Name == MetadataKey)
                {
                    if (metadata != null)
                    {
                        throw new InputException(file, MetadataKey, "appears twice in the header; expected at most one __metadata__ object");
                    }
                    metadata = ParseMetadata(file, prop.Value);
                    continue;
                }
                if (tensors.ContainsKey(prop.Name))
                {
                    throw new InputException(file, prop.Name, "tensor name appears twice in the header; expected unique names");
                }
                tensors.Add(prop.Name, ParseEntry(file, prop.Name, prop.Value, dataLength));
            }

            var byOffset = CheckCoverage(file, tensors.Values, dataLength);
            return new Parsed(tensors, byOffset, metadata ?? ImmutableDictionary<string, string>.Empty);
        }
    }

    private static IReadOnlyDictionary<string, string> ParseMetadata(string file, JsonElement value)
    {
        if (value.ValueKind != JsonValueKind.Object)
        {
            throw new InputException(file, MetadataKey, $"expected a JSON object of string values, found a JSON {Kind(value)}");
        }
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var p in value.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.String)
            {
                throw new InputException(file, $"{MetadataKey}.{p.Name}", $"expected a string value, found a JSON {Kind(p.Value)}");
            }
            if (!map.TryAdd(p.Name, p.Value.GetString()!))
            {
                throw new InputException(file, $"{MetadataKey}.{p.Name}", "key appears twice; expected unique keys");
            }
        }
        return new System.Collections.ObjectModel.ReadOnlyDictionary<string, string>(map);
    }

    private static TensorInfo ParseEntry(string file, string name, JsonElement entry, long dataLength)
    {
        if (entry.ValueKind != JsonValueKind.Object)
        {
            throw new InputException(file, name, $"expected a JSON object {{\"dtype\", \"shape\", \"data_offsets\"}}, found a JSON {Kind(entry)}");
        }
        JsonElement? dtypeEl = null, shapeEl = null, offsetsEl = null;
        foreach (var p in entry.EnumerateObject())
        {
            ref JsonElement? slot = ref dtypeEl;
            switch (p.Name)
            {
                case "dtype": slot = ref dtypeEl; break;
                case "shape": slot = ref shapeEl; break;
                case "data_offsets": slot = ref offsetsEl; break;
                default: continue; // the reference ignores unknown fields
            }
            if (slot != null)
            {
                throw new InputException(file, name, $"field \"{p.Name}\" appears twice; expected it once");
            }
            slot = p.Value;
        }

        // dtype
        if (dtypeEl is not { } dt)
        {
            throw new InputException(file, name, "missing \"dtype\"; expected a dtype string such as \"F32\"");
        }
        if (dt.ValueKind != JsonValueKind.String)
        {
            throw new InputException(file, name, $"\"dtype\" must be a string such as \"F32\", found a JSON {Kind(dt)}");
        }
        var dtypeText = dt.GetString()!;
        if (!TensorDTypes.TryParse(dtypeText, out var dtype))
        {
            var what = TensorDTypes.IsKnownUnsupported(dtypeText)
                ? $"dtype \"{dtypeText}\" is a safetensors type ModalFlow does not read"
                : $"unknown dtype \"{dtypeText}\"";
            throw new InputException(file, name, $"{what}; expected one of {TensorDTypes.SupportedList}");
        }

        // shape
        if (shapeEl is not { } sh)
        {
            throw new InputException(file, name, "missing \"shape\"; expected an array of non-negative integers");
        }
        if (sh.ValueKind != JsonValueKind.Array)
        {
            throw new InputException(file, name, $"\"shape\" must be an array of non-negative integers, found a JSON {Kind(sh)}");
        }
        var shape = new List<long>(sh.GetArrayLength());
        foreach (var d in sh.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out var dim))
            {
                throw new InputException(file, name, $"\"shape\" must contain integers, found {d.GetRawText()}");
            }
            if (dim < 0)
            {
                throw new InputException(file, name, $"\"shape\" {sh.GetRawText()} has negative dimension {dim}; expected dimensions ≥ 0");
            }
            shape.Add(dim);
        }

        // data_offsets
        if (offsetsEl is not { } off)
        {
            throw new InputException(file, name, "missing \"data_offsets\"; expected [begin, end] byte offsets into the data section");
        }
        if (off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2)
        {
            throw new InputException(file, name, $"\"data_offsets\" must be an array of two integers [begin, end], found {Truncate(off.GetRawText())}");
        }
        var pair = new long[2];
        var i = 0;
        foreach (var o in off.EnumerateArray())
        {
            if (o.ValueKind != JsonValueKind.Number || !o.TryGetInt64(out var v) || v < 0)
            {
                throw new InputException(file, name, $"\"data_offsets\" must be two non-negative integers [begin, end], found {off.GetRawText()}");
            }
            pair[i++] = v;
        }
        var (begin, end) = (pair[0], pair[1]);
        if (end < begin)
        {
            throw new InputException(file, name, $"\"data_offsets\" [{begin}, {end}] ends before it begins; expected begin ≤ end");
        }
        if (end > dataLength)
        {
            throw new InputException(file, name,
                $"\"data_offsets\" [{begin}, {end}] reach past the end of the data section; expected end ≤ {dataLength} (the file holds {dataLength} data bytes after the header)");
        }

        long elements = 1, bytes;
        try
        {
            foreach (var d in shape) elements = checked(elements * d);
            bytes = checked(elements * dtype.ElementSize());
        }
        catch (OverflowException)
        {
            throw new InputException(file, name, $"shape [{string.Join(", ", shape)}] of {dtype} overflows a 64-bit byte count; expected a realistic shape");
        }
        if (end - begin != bytes)
        {
            throw new InputException(file, name,
                $"\"data_offsets\" [{begin}, {end}] hold {end - begin} bytes, but shape [{string.Join(", ", shape)}] of {dtype} needs {elements} × {dtype.ElementSize()} = {bytes} bytes");
        }
        return new TensorInfo(name, dtype, shape, begin, end);
    }

    /// <summary>Sorted by (begin, end), the ranges must tile [0, dataLength) exactly, as the reference demands.</summary>
    private static IReadOnlyList<TensorInfo> CheckCoverage(string file, IEnumerable<TensorInfo> tensors, long dataLength)
    {
        var sorted = tensors.OrderBy(t => t.Begin).ThenBy(t => t.End).ThenBy(t => t.Name, StringComparer.Ordinal).ToList();
        long pos = 0;
        TensorInfo? prev = null;
        foreach (var t in sorted)
        {
            if (t.Begin < pos)
            {
                throw new InputException(file, t.Name,
                    $"bytes [{t.Begin}, {t.End}) overlap tensor \"{prev!.Name}\" at [{prev.Begin}, {prev.End}); expected each tensor to start where the previous one ends");
            }
            if (t.Begin > pos)
            {
                var after = prev == null ? "the start of the data section" : $"tensor \"{prev.Name}\" (ends at {prev.End})";
                throw new InputException(file, t.Name,
                    $"starts at byte {t.Begin}, leaving {t.Begin - pos} unused bytes after {after}; expected the tensors to cover the data section without gaps, so this one should start at {pos}");
            }
            pos = t.End;
            prev = t;
        }
        if (pos != dataLength)
        {
            var last = prev == null ? "no tensor" : $"the last tensor \"{prev.Name}\" ends at {pos}";
            throw new InputException(file, "data_offsets",
                $"{last}, but the data section holds {dataLength} bytes; expected the tensors to cover it exactly ({dataLength - pos} trailing bytes)");
        }
        return sorted;
    }

    private static string Kind(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => "object",
        JsonValueKind.Array => "array",
        JsonValueKind.String => "string",
        JsonValueKind.Number => "number",
        JsonValueKind.True or JsonValueKind.False => "boolean",
        JsonValueKind.Null => "null",
        _ => e.ValueKind.ToString(),
    };

    private static string Truncate(string s) => s.Length <= 80 ? s : s[..80] + "…";
}
