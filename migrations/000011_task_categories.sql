-- jobdeck 000011: a category per task type (issue 19, item 2; seeds 000/001).
--
-- The DataBiz widget's `type` is one of import, export, validation, processing: what kind of work a
-- job does, not which task runs it. A task module declares its category (`defineTask({ category })`)
-- and every process registers it here with the rest of the task's settings; null means the task
-- declares none, which the widget answers as `processing` (src/jobs/categories.ts).

alter table jobdeck_private.task_types add column category text
  constraint category_is_known check (category in ('import', 'export', 'validation', 'processing'));
comment on column jobdeck_private.task_types.category is
  'What kind of work the type does (import, export, validation, processing); null: none declared.';
