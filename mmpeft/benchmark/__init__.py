"""The pieces of ``tools/analysis_tools/benchmark.py``, one module per
concern:

    methods         the method names ('full', 'adaptformer@last12+bf16')
    config_surgery  one model config (and model) per method
    synthetic       random inputs and ground truth for any task's config
    timing          clocks, peak memory, sample summaries
    measure         training step, inference, FLOPs, adapters alone
    report          ratios and the Markdown table
    process         one fresh process per method

The synthetic batches are also what the tests feed models
(:func:`synthetic.synthetic_batch`).
"""
