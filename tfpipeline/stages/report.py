"""Stage 7, report: the run record as `manifest.json`, `report.md` and `report.html`."""

from __future__ import annotations

from tfpipeline.record import RunRecord, write_record
from tfpipeline.report import artifact_table, write_report
from tfpipeline.report_html import write_html_report
from tfpipeline.run_folder import RunFolder
from tfpipeline.stages.log import StageLog


def report_stage(folder: RunFolder, record: RunRecord, log: StageLog) -> None:
    """Writes the manifest and both reports, then prints the artifacts table."""
    write_record(folder.manifest, record)
    write_report(folder, record)
    write_html_report(folder, record)
    log.stage(7, "report", f"{folder.manifest}, {folder.report_md}, {folder.report_html.name}")
    log.line()
    log.line(artifact_table(record.artifacts))
