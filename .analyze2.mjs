import * as esbuild from 'esbuild';
const entry = process.argv[2]; const filter = process.argv[3];
const r = await esbuild.build({ entryPoints:[entry], bundle:true, platform:'node', target:'node22', minify:true, format:'esm', mainFields:['module','main'], metafile:true, write:false, outfile:'/tmp/out.js', logLevel:'error' });
const out = Object.values(r.metafile.outputs)[0];
for (const [f, v] of Object.entries(out.inputs).filter(([f])=>f.includes(filter)).sort((a,b)=>b[1].bytesInOutput-a[1].bytesInOutput).slice(0,40)) console.log((v.bytesInOutput/1024).toFixed(1).padStart(8), f.replace(/.*node_modules\//,''));
