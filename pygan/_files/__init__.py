"""Run folders and files: atomic writes (``atomic``), one run per folder
(``folder_lock``), the run folder's shared file names and step logs
(``run_folder``), downloads and the cache folder (``download``), pictures
and plots (``pictures``, ``plot``)."""
