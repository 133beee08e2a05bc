# Stage: SkyLink's challenge submission. SkyLink runs themselves (train.task: street_satellite) train
# and are evaluated by the rules of train.smk; this writes the UAVM 2025 challenge's answer.txt and
# answer.zip from the first seed of skylink.answer.variant, with the release's test-time augmentation.


rule challenge_answer:
    input:
        unpack(challenge_answer_input),
    output:
        answer=LAYOUT.challenge("answer.txt"),
        archive=LAYOUT.challenge("answer.zip"),
        summary=LAYOUT.challenge("summary.json"),
    log:
        LAYOUT.log("challenge_answer"),
    conda:
        "../../envs/torch.yaml"
    threads: 2
    resources:
        gpu=1,
    params:
        settings=settings_of("challenge_answer"),
    script:
        "../scripts/challenge_answer.py"
