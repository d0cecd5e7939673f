"""Writes the paper's per-sample knockout CSV for the rows in paper_knockout_rows.json, with pandas, exactly as the
paper's InformationFlow.py does (github.com/FightingFighting/cross-modal-information-flow-in-MLLM, commit
c9a1111dac4baa175f67716fab473789320187c0):

    re = {"question_id": question_id, "image": img_id, "goden answer": answer, "predicted answer": predicted_answer,
          "question": question, "block_desc": block_desc, "layer": layer, "base_score_first": base_score_first,
          "new_score_first": new_score_first,
          "relative diff first": (new_score_first - base_score_first) * 100.0 / base_score_first}
    ...
    tmp = pd.DataFrame.from_records(results)
    tmp.to_csv(path, index=False)

with img_id = str(line["img_id"]) + ".jpg". Scores are given as IEEE-754 bit patterns (hex) so that both sides start
from the same doubles; "relative diff first" is computed here as the paper computes it, except for rows whose base
score is 0 (the paper would raise ZeroDivisionError), where the JSON's own value is used, to pin NaN and infinities.

Run: /usr/bin/python3 make_paper_knockout_csv.py   (Debian 12: python3-pandas 1.5.3, numpy 1.24.2)
Writes GQA_val_correct_question_with_choose_ChooseAttr_window9_Image_Central_Object___Question.csv beside it.
"""
import json, os, struct
import pandas as pd

here = os.path.dirname(os.path.abspath(__file__))
rows = json.load(open(os.path.join(here, "paper_knockout_rows.json")))

def f64(h):
    return struct.unpack(">d", bytes.fromhex(h))[0]

results = []
for r in rows:
    base, new = f64(r["base"]), f64(r["new"])
    rel = (new - base) * 100.0 / base if base != 0 else f64(r["rel"])
    results.append({
        "question_id": r["question_id"],
        "image": str(r["img_id"]) + ".jpg",
        "goden answer": r["answer"],
        "predicted answer": r["predicted"],
        "question": r["question"],
        "block_desc": r["block"],
        "layer": r["layer"],
        "base_score_first": base,
        "new_score_first": new,
        "relative diff first": rel,
    })

tmp = pd.DataFrame.from_records(results)
tmp.to_csv(os.path.join(here, "GQA_val_correct_question_with_choose_ChooseAttr_window9_Image_Central_Object___Question.csv"), index=False)
print(pd.__version__, len(results), "rows")
