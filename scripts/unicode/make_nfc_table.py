"""Writes src/ModalFlow/Text/NfcTable.txt, the data UnicodeNfc.cs needs, from Python's own unicodedata.

The project runs with InvariantGlobalization (no ICU), where string.Normalize(FormC) leaves text unchanged, yet
Qwen2's tokenizer NFC-normalises its input (unicodedata.normalize("NFC", text)); this table lets C# do the same.

Lines:  D <cp> <cp> [<cp>]   one level of canonical decomposition (Hangul syllables are algorithmic, not listed)
        C <first> <last> <ccc>  canonical combining class of a range of code points (only non-zero classes)
        X <cp>                 a two-code-point decomposition that NFC does not recompose (composition exclusions)
"""
import os, sys, unicodedata as u

out = os.path.join(os.path.dirname(__file__), '..', '..', 'src', 'ModalFlow', 'Text', 'NfcTable.txt')
lines = [f'# NFC data from Python {sys.version.split()[0]} unicodedata (Unicode {u.unidata_version}); '
         'written by scripts/unicode/make_nfc_table.py']
for c in range(0x110000):
    d = u.decomposition(chr(c))
    if d and not d.startswith('<'):
        parts = d.split()
        lines.append('D ' + ' '.join([f'{c:04X}'] + parts))
        if len(parts) == 2 and u.normalize('NFC', chr(c)) != chr(c):
            lines.append(f'X {c:04X}')
run = None
for c in range(0x110001):
    ccc = u.combining(chr(c)) if c < 0x110000 else 0
    if run and (ccc != run[2] or c != run[1] + 1):
        lines.append(f'C {run[0]:04X} {run[1]:04X} {run[2]}')
        run = None
    if ccc:
        run = (run[0], c, ccc) if run else (c, c, ccc)
with open(out, 'w', encoding='ascii', newline='\n') as f:
    f.write('\n'.join(lines) + '\n')
print(out, len(lines))
