namespace ModalFlow.Text;

/// <summary>
/// A token added on top of a BPE vocabulary (Hugging Face <c>AddedToken</c>: tokenizer.json <c>added_tokens</c>,
/// tokenizer_config.json <c>added_tokens_decoder</c>). Byte-level tokenizers find these in the text before BPE.
/// </summary>
/// <param name="Id">Its id.</param>
/// <param name="Content">Its text, matched literally.</param>
/// <param name="Special">A special token (skipped when decoding with <c>skip_special_tokens</c>).</param>
/// <param name="LStrip">Also swallows the white space on its left.</param>
/// <param name="RStrip">Also swallows the white space on its right.</param>
public sealed record AddedTokenSpec(int Id, string Content, bool Special = true, bool LStrip = false, bool RStrip = false);
