package ignore

import (
	"fmt"
	"testing"
)

// pythonGitignore is a typical Python project's .gitignore, shortened.
const pythonGitignore = `__pycache__/
*.py[cod]
*$py.class
*.so
.Python
build/
develop-eggs/
dist/
downloads/
eggs/
.eggs/
lib64/
parts/
sdist/
var/
wheels/
*.egg-info/
.installed.cfg
*.egg
MANIFEST
*.manifest
*.spec
pip-log.txt
htmlcov/
.tox/
.nox/
.coverage
.coverage.*
.cache
nosetests.xml
coverage.xml
*.cover
.hypothesis/
.pytest_cache/
*.mo
*.pot
*.log
local_settings.py
db.sqlite3
instance/
.webassets-cache
.scrapy
docs/_build/
target/
.ipynb_checkpoints
profile_default/
ipython_config.py
.pdm.toml
__pypackages__/
celerybeat-schedule
*.sage.py
.env
.venv
env/
venv/
ENV/
.spyderproject
.ropeproject
/site
.mypy_cache/
.dmypy.json
.pyre/
wandb/
data/**/*.csv
!data/**/small.csv
**/checkpoints/*.pt
`

// BenchmarkMatch asks about 10,000 files in 1,000 directories, as a walk
// of a code tree does.
func BenchmarkMatch(b *testing.B) {
	root := b.TempDir()
	buildTree(b, root, tree{".gitignore": pythonGitignore, "src/.gitignore": "*.tmp\n!keep.tmp\n"})
	paths := make([]string, 0, 10000)
	for i := range 10000 {
		paths = append(paths, fmt.Sprintf("src/pkg%02d/mod%02d/file%05d.py", i%40, (i/40)%25, i))
	}
	for b.Loop() {
		m, err := New(root)
		if err != nil {
			b.Fatal(err)
		}
		for _, p := range paths {
			m.Ignored(p, false)
		}
	}
}
