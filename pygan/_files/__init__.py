"""Run folders and files: atomic writes (``atomic``), one process per
folder, a run's or a cache's (``folder_lock``), the run folder's shared file
names and step logs (``run_folder``), downloads and the cache folder
(``download``), reading files from elsewhere within bounds (``reading``),
pictures and plots (``pictures``, ``plot``)."""
