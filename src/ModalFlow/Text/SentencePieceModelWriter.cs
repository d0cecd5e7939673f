using Google.Protobuf;

namespace ModalFlow.Text;

/// <summary>
/// Writes a SentencePiece <c>tokenizer.model</c> (protobuf <c>ModelProto</c> of google/sentencepiece
/// src/sentencepiece_model.proto) for a <see cref="SentencePieceVocabulary"/>, with the trainer and normalizer
/// specs of the Llama-2 model: BPE, byte fallback, unk/bos/eos = 0/1/2, no pad; normalizer "identity" with a dummy
/// prefix, whitespace escaped to "▁" and extra whitespace kept. A model that cannot be redistributed can thus be
/// replaced by a generated one that every SentencePiece reader (sentencepiece, Hugging Face's slow
/// <c>LlamaTokenizer</c>, Microsoft.ML.Tokenizers' <see cref="Microsoft.ML.Tokenizers.LlamaTokenizer"/>)
/// tokenizes the same way.
/// <para>
/// Every field of both specs is written, in field-number order, with the values that Meta's Llama-2
/// <c>tokenizer.model</c> carries — except <c>input</c> (Meta's training-data path; left out),
/// <c>model_prefix</c> (<see cref="ModelPrefix"/>) and <c>vocab_size</c> (the piece count). Like Meta's file, the
/// normalizer spec leaves <c>escape_whitespaces</c> at its default, true. Pieces are written as sentencepiece writes
/// them: string, score, and the type only when it is not NORMAL. The output is a pure function of the pieces.
/// </para>
/// </summary>
public static class SentencePieceModelWriter
{
    /// <summary>The <c>trainer_spec.model_prefix</c> written, naming where the file came from.</summary>
    public const string ModelPrefix = "modalflow_generated";

    // ModelProto
    internal const int ModelPiecesField = 1;
    internal const int ModelTrainerSpecField = 2;
    internal const int ModelNormalizerSpecField = 3;

    // ModelProto.SentencePiece
    internal const int PiecePieceField = 1;
    internal const int PieceScoreField = 2;
    internal const int PieceTypeField = 3;

    private const int ModelTypeBpe = 2; // TrainerSpec.ModelType.BPE

    /// <summary>The serialized <c>ModelProto</c>.</summary>
    public static byte[] Build(SentencePieceVocabulary vocab)
    {
        ArgumentNullException.ThrowIfNull(vocab);
        return Message(o =>
        {
            foreach (var p in vocab.Pieces)
            {
                o.WriteTag(ModelPiecesField, WireFormat.WireType.LengthDelimited);
                o.WriteBytes(Piece(p));
            }
            o.WriteTag(ModelTrainerSpecField, WireFormat.WireType.LengthDelimited);
            o.WriteBytes(TrainerSpec(vocab.Count));
            o.WriteTag(ModelNormalizerSpecField, WireFormat.WireType.LengthDelimited);
            o.WriteBytes(NormalizerSpec());
        }).ToByteArray();
    }

    /// <summary>Writes <see cref="Build"/> to <paramref name="path"/> (replacing a file there).</summary>
    public static void Write(string path, SentencePieceVocabulary vocab)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        File.WriteAllBytes(path, Build(vocab));
    }

    internal static uint Tag(int field, WireFormat.WireType type) => WireFormat.MakeTag(field, type);

    private static ByteString Piece(SentencePiece p) => Message(o =>
    {
        o.WriteTag(PiecePieceField, WireFormat.WireType.LengthDelimited);
        o.WriteString(p.Piece);
        o.WriteTag(PieceScoreField, WireFormat.WireType.Fixed32);
        o.WriteFloat(p.Score);
        if (p.Type != SentencePieceType.Normal)
        {
            o.WriteTag(PieceTypeField, WireFormat.WireType.Varint);
            o.WriteEnum((int)p.Type);
        }
    });

    /// <summary>TrainerSpec as in Llama-2's tokenizer.model (field numbers and values in the comments' order).</summary>
    private static ByteString TrainerSpec(int vocabSize) => Message(o =>
    {
        void Str(int field, string value) { o.WriteTag(field, WireFormat.WireType.LengthDelimited); o.WriteString(value); }
        void I32(int field, int value) { o.WriteTag(field, WireFormat.WireType.Varint); o.WriteInt32(value); }
        void U64(int field, ulong value) { o.WriteTag(field, WireFormat.WireType.Varint); o.WriteUInt64(value); }
        void Bool(int field, bool value) { o.WriteTag(field, WireFormat.WireType.Varint); o.WriteBool(value); }
        void F32(int field, float value) { o.WriteTag(field, WireFormat.WireType.Fixed32); o.WriteFloat(value); }

        // 1 input: Meta's training-data path; not written.
        Str(2, ModelPrefix);                 // model_prefix
        o.WriteTag(3, WireFormat.WireType.Varint);
        o.WriteEnum(ModelTypeBpe);           // model_type = BPE
        I32(4, vocabSize);                   // vocab_size
        I32(6, 0);                           // self_test_sample_size
        Str(7, "text");                      // input_format
        F32(10, 0.99995f);                   // character_coverage
        U64(11, 200_000_000);                // input_sentence_size
        I32(14, 1_000_000);                  // seed_sentencepiece_size
        F32(15, 0.75f);                      // shrinking_factor
        I32(16, 80);                         // num_threads
        I32(17, 2);                          // num_sub_iterations
        I32(18, 4192);                       // max_sentence_length
        Bool(19, true);                      // shuffle_input_sentence
        I32(20, 16);                         // max_sentencepiece_length
        Bool(21, true);                      // split_by_unicode_script
        Bool(22, true);                      // split_by_whitespace
        Bool(23, true);                      // split_by_number
        Bool(24, false);                     // treat_whitespace_as_suffix
        Bool(25, true);                      // split_digits
        Bool(26, true);                      // allow_whitespace_only_pieces
        Bool(32, true);                      // vocabulary_output_piece_score
        Bool(33, true);                      // hard_vocab_limit
        Bool(34, false);                     // use_all_vocab
        Bool(35, true);                      // byte_fallback
        Str(36, "");                         // required_chars
        I32(40, SentencePieceVocabulary.UnknownId);  // unk_id
        I32(41, SentencePieceVocabulary.BosId);      // bos_id
        I32(42, SentencePieceVocabulary.EosId);      // eos_id
        I32(43, -1);                         // pad_id: none
        Str(44, " \u2047 ");                 // unk_surface " ⁇ "
        Str(45, SentencePieceVocabulary.UnknownPiece); // unk_piece
        Str(46, SentencePieceVocabulary.BosPiece);     // bos_piece
        Str(47, SentencePieceVocabulary.EosPiece);     // eos_piece
        Str(48, "<pad>");                    // pad_piece
        Bool(49, false);                     // train_extremely_large_corpus
        Bool(50, false);                     // enable_differential_privacy
        F32(51, 0f);                         // differential_privacy_noise_level
        U64(52, 0);                          // differential_privacy_clipping_threshold
    });

    /// <summary>NormalizerSpec as in Llama-2's tokenizer.model (escape_whitespaces, field 5, left at its default true).</summary>
    private static ByteString NormalizerSpec() => Message(o =>
    {
        o.WriteTag(1, WireFormat.WireType.LengthDelimited);
        o.WriteString("identity");           // name
        o.WriteTag(2, WireFormat.WireType.LengthDelimited);
        o.WriteBytes(ByteString.Empty);      // precompiled_charsmap: none
        o.WriteTag(3, WireFormat.WireType.Varint);
        o.WriteBool(true);                   // add_dummy_prefix
        o.WriteTag(4, WireFormat.WireType.Varint);
        o.WriteBool(false);                  // remove_extra_whitespaces
        o.WriteTag(6, WireFormat.WireType.LengthDelimited);
        o.WriteString("");                   // normalization_rule_tsv
    });

    private static ByteString Message(Action<CodedOutputStream> write)
    {
        using var ms = new MemoryStream();
        using (var o = new CodedOutputStream(ms, leaveOpen: true))
        {
            write(o);
            o.Flush();
        }
        return ByteString.CopyFrom(ms.GetBuffer(), 0, (int)ms.Length);
    }
}
